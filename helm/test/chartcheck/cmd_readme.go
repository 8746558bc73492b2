package main

// The chart README's parameter tables come from the `## @param` lines of
// values.yaml (Bitnami style). `readme --check` fails when a key has no
// @param line, an @param names no key, or README.md is not what `readme
// --write` would produce.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

const (
	readmeStart = "<!-- PARAMETERS:START (generated from values.yaml by helm/test/chartcheck readme --write) -->"
	readmeEnd   = "<!-- PARAMETERS:END -->"
)

type paramDoc struct {
	Key, Desc string
}

type paramSection struct {
	Title  string
	Params []paramDoc
}

var (
	sectionRE = regexp.MustCompile(`^\s*## @section (.+)$`)
	paramRE   = regexp.MustCompile(`^\s*## @param ([A-Za-z0-9_.\-]+) (.+)$`)
)

func parseParamDocs(valuesPath string) ([]paramSection, error) {
	f, err := os.Open(valuesPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var secs []paramSection
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := sectionRE.FindStringSubmatch(line); m != nil {
			secs = append(secs, paramSection{Title: strings.TrimSpace(m[1])})
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "## @param") {
			m := paramRE.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("%s:%d: malformed @param line (want `## @param key description`)", valuesPath, n)
			}
			if len(secs) == 0 {
				return nil, fmt.Errorf("%s:%d: @param before any @section", valuesPath, n)
			}
			s := &secs[len(secs)-1]
			s.Params = append(s.Params, paramDoc{Key: m[1], Desc: strings.TrimSpace(m[2])})
		}
	}
	return secs, sc.Err()
}

func lookupPath(v map[string]interface{}, key string) (interface{}, bool) {
	var cur interface{} = v
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]interface{})
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// undocumented walks the values: a key is covered by its own @param, or,
// for a non-empty map, by @params on all of its children.
func undocumented(prefix string, v interface{}, documented map[string]bool, out *[]string) {
	if documented[prefix] {
		return
	}
	m, ok := v.(map[string]interface{})
	if !ok || len(m) == 0 {
		*out = append(*out, prefix)
		return
	}
	for _, k := range sortedKeys(m) {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		undocumented(p, m[k], documented, out)
	}
}

func formatDefault(v interface{}) string {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

func generateTables(secs []paramSection, vals map[string]interface{}) string {
	var b strings.Builder
	for i, s := range secs {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "### %s\n\n| Name | Description | Value |\n|---|---|---|\n", s.Title)
		for _, p := range s.Params {
			v, _ := lookupPath(vals, p.Key)
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", p.Key, strings.ReplaceAll(p.Desc, "|", `\|`), formatDefault(v))
		}
	}
	return b.String()
}

func cmdReadme(args []string) error {
	fs := flag.NewFlagSet("readme", flag.ExitOnError)
	chartDir := fs.String("chart", "", "chart directory")
	write := fs.Bool("write", false, "rewrite the parameter tables in README.md")
	check := fs.Bool("check", false, "fail if README.md or the @param lines are out of sync")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *chartDir == "" || *write == *check {
		return fmt.Errorf("--chart and exactly one of --write/--check are required")
	}
	valuesPath := filepath.Join(*chartDir, "values.yaml")
	secs, err := parseParamDocs(valuesPath)
	if err != nil {
		return err
	}
	vals, err := readValuesFile(valuesPath)
	if err != nil {
		return err
	}
	var problems []string
	documented := map[string]bool{}
	for _, s := range secs {
		for _, p := range s.Params {
			if documented[p.Key] {
				problems = append(problems, fmt.Sprintf("@param %s is documented twice", p.Key))
			}
			documented[p.Key] = true
			if _, ok := lookupPath(vals, p.Key); !ok {
				problems = append(problems, fmt.Sprintf("@param %s names no key of values.yaml", p.Key))
			}
		}
	}
	var missing []string
	undocumented("", vals, documented, &missing)
	for _, k := range missing {
		problems = append(problems, fmt.Sprintf("values.yaml key %s has no @param line", k))
	}
	readmePath := filepath.Join(*chartDir, "README.md")
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	i := bytes.Index(readme, []byte(readmeStart))
	j := bytes.Index(readme, []byte(readmeEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s lacks the %s ... %s markers", readmePath, readmeStart, readmeEnd)
	}
	want := readmeStart + "\n\n" + generateTables(secs, vals) + "\n" + readmeEnd
	have := string(readme[i : j+len(readmeEnd)])
	if *write {
		if len(problems) > 0 {
			return fmt.Errorf("fix values.yaml first:\n  %s", strings.Join(problems, "\n  "))
		}
		out := string(readme[:i]) + want + string(readme[j+len(readmeEnd):])
		return os.WriteFile(readmePath, []byte(out), 0o644)
	}
	if have != want {
		problems = append(problems, fmt.Sprintf("%s parameter tables are stale: run `chartcheck readme --chart %s --write`", readmePath, *chartDir))
	}
	if len(problems) > 0 {
		return fmt.Errorf("\n  %s", strings.Join(problems, "\n  "))
	}
	n := 0
	for _, s := range secs {
		n += len(s.Params)
	}
	fmt.Printf("README in sync: %d parameters in %d sections\n", n, len(secs))
	return nil
}
