package main

// Reading what a Verity program accepts from its --help output, whose format
// is fixed in common/include/vt_config.h:
//   "  --<flag>[ <METAVAR>]  (<ENV>, <DEFAULT>)  <help>"

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// optInfo is one option line of --help.
type optInfo struct {
	Flag     string // without "--"
	Metavar  string // "" for BOOL options
	Env      string // "" when the option has no variable
	Required bool
}

// helpInfo is everything one program (or CLI sub-command) accepts.
type helpInfo struct {
	Program string
	Flags   map[string]optInfo
	Envs    map[string]string // VERITY_X -> flag
	Text    string
}

var optLineRE = regexp.MustCompile(`^  --([a-z0-9-]+)(?: (\S+))?  \(([A-Z0-9_]+|-), (default .*|required|no default)\)  (.*)$`)

func parseHelp(program, text string) (*helpInfo, error) {
	h := &helpInfo{Program: program, Flags: map[string]optInfo{}, Envs: map[string]string{}, Text: text}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "  --") {
			continue
		}
		m := optLineRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%s --help: option line not in the vt_config.h format: %q", program, line)
		}
		o := optInfo{Flag: m[1], Metavar: m[2], Required: m[4] == "required"}
		if m[3] != "-" {
			o.Env = m[3]
			h.Envs[o.Env] = o.Flag
		}
		h.Flags[o.Flag] = o
	}
	if len(h.Flags) == 0 {
		return nil, fmt.Errorf("%s --help lists no options:\n%s", program, text)
	}
	return h, nil
}

// runHelp runs `bin [sub...] --help` and parses it. A missing binary is an
// error: the chart must not reference daemons that do not exist.
func runHelp(binDir, bin string, sub ...string) (*helpInfo, error) {
	p := filepath.Join(binDir, bin)
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("%s not built (looked for %s): the chart deploys it, so the test needs it", bin, p)
	}
	args := append(append([]string{}, sub...), "--help")
	cmd := exec.Command(p, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// Keep a stray VERITY_* in the caller's environment from mattering.
	cmd.Env = baseEnv()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v\n%s%s", bin, strings.Join(args, " "), err, out.String(), errb.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s %s: no answer in 10 s", bin, strings.Join(args, " "))
	}
	name := strings.TrimSpace(bin + " " + strings.Join(sub, " "))
	return parseHelp(name, out.String())
}

// cliSubcommands lists the sub-commands `verity --help` names: lines of the
// form "  <name>  <summary>" or "  <name> ..." that are not options.
func cliSubcommands(binDir string) (map[string]bool, string, error) {
	p := filepath.Join(binDir, "verity")
	if _, err := os.Stat(p); err != nil {
		return nil, "", fmt.Errorf("verity (CLI) not built (looked for %s): the chart's Jobs run it", p)
	}
	cmd := exec.Command(p, "--help")
	cmd.Env = baseEnv()
	out, _ := cmd.CombinedOutput() // some CLIs exit 0, some 2 on --help; the text is what matters
	subs := map[string]bool{}
	re := regexp.MustCompile(`^\s+([a-z][a-z0-9-]*)\b`)
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "-") {
			continue
		}
		if m := re.FindStringSubmatch(line); m != nil {
			subs[m[1]] = true
		}
	}
	if len(subs) == 0 {
		return nil, string(out), fmt.Errorf("verity --help names no sub-commands:\n%s", out)
	}
	return subs, string(out), nil
}

// baseEnv is the environment programs run with: PATH, plus the sanitizer
// settings of an ASan/UBSan build (scripts/test.sh), and nothing VERITY_*.
func baseEnv() []string {
	env := []string{"PATH=/usr/bin:/bin"}
	for _, k := range []string{"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}
