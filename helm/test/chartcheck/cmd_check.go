package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	yamlv2 "gopkg.in/yaml.v2"
)

// invalidCase is one entry of the invalid-values file: values that must make
// the chart fail, and the text its message must contain.
type invalidCase struct {
	Name   string   `yaml:"name"`
	Set    []string `yaml:"set"`
	Values []string `yaml:"values"`
	Expect []string `yaml:"expect"`
}

// mutationCase: values the chart renders but the checks must flag.
type mutationCase struct {
	Name    string   `yaml:"name"`
	Set     []string `yaml:"set"`
	Problem []string `yaml:"problem"`
}

// validCase is one rendering that must succeed and pass every check.
type validCase struct {
	name  string
	files []string
}

func cmdCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	chartDir := fs.String("chart", "", "chart directory")
	binDir := fs.String("bin-dir", "", "directory with verity-scheduler, verity-worker, verity-verifier, verity-memsync and verity")
	casesFile := fs.String("cases", "", "YAML list of invalid-values cases")
	mutationsFile := fs.String("mutations", "", "YAML list of accepted-but-wrong values the checks must catch")
	only := fs.String("only", "", "run only the rendering/case whose name contains this")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *chartDir == "" || *binDir == "" || *casesFile == "" || *mutationsFile == "" {
		return fmt.Errorf("--chart, --bin-dir, --cases and --mutations are required")
	}
	c, err := loadChart(*chartDir)
	if err != nil {
		return err
	}
	var problems []string

	// The daemons' and the CLI's own description of what they accept.
	helps := map[string]*helpInfo{}
	for bin := range daemons {
		h, err := runHelp(*binDir, bin)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		helps[bin] = h
	}
	cliSubs, _, err := cliSubcommands(*binDir)
	if err != nil {
		problems = append(problems, err.Error())
	}

	// The default values need one model or identity mode to be valid at all;
	// "default" renders them with only worker.identity=true added.
	cases := []validCase{{name: "default"}}
	ciFiles, _ := filepath.Glob(filepath.Join(*chartDir, "ci", "*-values.yaml"))
	sort.Strings(ciFiles)
	if len(ciFiles) < 3 {
		problems = append(problems, fmt.Sprintf("expected several ci/*-values.yaml files, found %d", len(ciFiles)))
	}
	for _, f := range ciFiles {
		cases = append(cases, validCase{name: filepath.Base(f), files: []string{f}})
	}
	rendered := 0
	for _, vc := range cases {
		if *only != "" && !strings.Contains(vc.name, *only) {
			continue
		}
		o := RenderOptions{ReleaseName: "vt", Namespace: "verity", ValueFiles: vc.files}
		if vc.name == "default" {
			o.Sets = []string{"worker.identity=true"}
		}
		r, err := render(c, o)
		if err != nil {
			problems = append(problems, fmt.Sprintf("[%s] render failed: %v", vc.name, err))
			continue
		}
		ck := &checker{name: vc.name, values: r.Values, help: helps, binDir: *binDir, cliSubs: cliSubs, cliHelp: map[string]*helpInfo{}}
		ck.checkRendering(r)
		problems = append(problems, ck.errs...)
		rendered++
		status := "ok  "
		if len(ck.errs) > 0 {
			status = "FAIL"
		}
		fmt.Printf("%s %-32s %d manifests, %d problems\n", status, vc.name, len(r.Manifests), len(ck.errs))
	}

	// An upgrade keeps every generated key: render, take the Secrets as the
	// live cluster, render again (fewer verifiers: their keys stay too).
	if *only == "" || strings.Contains("upgrade", *only) {
		problems = append(problems, checkUpgradeKeepsKeys(c)...)
	}

	// Values the chart must refuse, each with its own message.
	data, err := os.ReadFile(*casesFile)
	if err != nil {
		return err
	}
	var bad []invalidCase
	if err := yamlv2.UnmarshalStrict(data, &bad); err != nil {
		return fmt.Errorf("%s: %v", *casesFile, err)
	}
	for _, ic := range bad {
		if *only != "" && !strings.Contains(ic.Name, *only) {
			continue
		}
		var files []string
		for _, f := range ic.Values {
			files = append(files, filepath.Join(*chartDir, f))
		}
		_, err := render(c, RenderOptions{ReleaseName: "vt", Namespace: "verity", ValueFiles: files, Sets: ic.Set})
		if err == nil {
			problems = append(problems, fmt.Sprintf("[invalid: %s] rendered, but the chart should refuse these values", ic.Name))
			continue
		}
		missing := 0
		for _, want := range ic.Expect {
			if !strings.Contains(err.Error(), want) {
				problems = append(problems, fmt.Sprintf("[invalid: %s] message lacks %q:\n%v", ic.Name, want, err))
				missing++
			}
		}
		if len(ic.Expect) == 0 {
			problems = append(problems, fmt.Sprintf("[invalid: %s] expects no message text", ic.Name))
		} else if missing == 0 {
			fmt.Printf("ok   refused: %s\n", ic.Name)
		}
	}
	// The checks themselves must be able to fail.
	data, err = os.ReadFile(*mutationsFile)
	if err != nil {
		return err
	}
	var muts []mutationCase
	if err := yamlv2.UnmarshalStrict(data, &muts); err != nil {
		return fmt.Errorf("%s: %v", *mutationsFile, err)
	}
	for _, mc := range muts {
		if *only != "" && !strings.Contains(mc.Name, *only) {
			continue
		}
		sets := append([]string{"worker.identity=true"}, mc.Set...)
		r, err := render(c, RenderOptions{ReleaseName: "vt", Namespace: "verity", Sets: sets})
		if err != nil {
			problems = append(problems, fmt.Sprintf("[mutation: %s] should render: %v", mc.Name, err))
			continue
		}
		ck := &checker{name: mc.Name, values: r.Values, help: helps, binDir: *binDir, cliSubs: cliSubs, cliHelp: map[string]*helpInfo{}}
		ck.checkRendering(r)
		report := strings.Join(ck.errs, "\n")
		missing := 0
		for _, want := range mc.Problem {
			if !strings.Contains(report, want) {
				problems = append(problems, fmt.Sprintf("[mutation: %s] the checks did not report %q; they said:\n%s", mc.Name, want, report))
				missing++
			}
		}
		if len(mc.Problem) == 0 {
			problems = append(problems, fmt.Sprintf("[mutation: %s] expects no problem text", mc.Name))
		} else if missing == 0 {
			fmt.Printf("ok   caught: %s\n", mc.Name)
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "FAIL", p)
		}
		return fmt.Errorf("%d problem(s)", len(problems))
	}
	fmt.Printf("chart checks passed: %d renderings, %d invalid-values cases, %d mutations caught\n", rendered, len(bad), len(muts))
	return nil
}

func secretsOf(r *Rendered) (map[string]map[string]interface{}, []map[string]interface{}, error) {
	byName := map[string]map[string]interface{}{}
	var objs []map[string]interface{}
	for _, m := range r.Manifests {
		if m.Kind != "Secret" {
			continue
		}
		body, err := parseYAMLMap([]byte(m.Body))
		if err != nil {
			return nil, nil, err
		}
		md, _ := body["metadata"].(map[string]interface{})
		data, _ := body["data"].(map[string]interface{})
		byName[fmt.Sprint(md["name"])] = data
		objs = append(objs, body)
	}
	return byName, objs, nil
}

func checkUpgradeKeepsKeys(c *Chart) []string {
	base := RenderOptions{ReleaseName: "vt", Namespace: "verity", Sets: []string{"worker.identity=true", "verifier.replicaCount=3"}}
	r1, err := render(c, base)
	if err != nil {
		return []string{fmt.Sprintf("[upgrade] first render: %v", err)}
	}
	before, cluster, err := secretsOf(r1)
	if err != nil || len(before) == 0 {
		return []string{fmt.Sprintf("[upgrade] no Secrets rendered (%v)", err)}
	}
	up := base
	up.Sets = []string{"worker.identity=true", "verifier.replicaCount=1"}
	up.Cluster = cluster
	r2, err := render(c, up)
	if err != nil {
		return []string{fmt.Sprintf("[upgrade] second render: %v", err)}
	}
	after, _, err := secretsOf(r2)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for name, data := range before {
		for k, v := range data {
			if after[name][k] != v {
				problems = append(problems, fmt.Sprintf("[upgrade] Secret %s key %s changed or vanished on upgrade", name, k))
			}
		}
	}
	// Without a cluster (helm template), keys are new each time; if they
	// were not, the chart would not be generating them at all.
	r3, err := render(c, base)
	if err == nil {
		again, _, _ := secretsOf(r3)
		for name, data := range before {
			for k, v := range data {
				if again[name][k] == v {
					problems = append(problems, fmt.Sprintf("[upgrade] Secret %s key %s is the same in two fresh renders: not random", name, k))
				}
			}
		}
	}
	if len(problems) == 0 {
		fmt.Printf("ok   upgrade keeps %d generated Secrets, verifier keys included after scaling down\n", len(before))
	}
	return problems
}
