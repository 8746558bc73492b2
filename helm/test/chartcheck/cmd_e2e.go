package main

// `chartcheck e2e`: run what the rendered manifests would run, on this
// machine, with the real binaries and a real redis-server:
//   - the key files and auth secret the chart generates (Secret data, files
//     mode 0440 as a Secret volume with fsGroup gives them),
//   - the node registration Job's script (twice: it must be idempotent; then
//     with a revoked key, which must stop it),
//   - the scheduler, one worker and every verifier with the manifests' args
//     and env, addresses moved to free loopback ports, until each /readyz
//     answers 200: the generated keys load, the Job's allow-listing admits
//     the worker and verifiers, and the scheduler sees them.
// Every wait is bounded; every process started is stopped.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	yamlv3 "gopkg.in/yaml.v3"
)

type e2e struct {
	tmp     string
	binDir  string
	docs    []doc
	procs   []*exec.Cmd
	logs    []string
	redis   string // redis://127.0.0.1:port
	sched   map[string]int
	memsync int // MemSync's local listen port (0: not started)
	verbose bool
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePorts picks a free loopback port for each name.
func freePorts(names ...string) (map[string]int, error) {
	ports := map[string]int{}
	for _, name := range names {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[name] = p
	}
	return ports, nil
}

// runDaemon starts a manifest's container on the given local ports and
// waits (20 s at most) until its /readyz answers 200.
func (e *e2e) runDaemon(name string, ctr obj, ports map[string]int) error {
	argv, env, err := e.daemonCommand(ctr, ports, 0)
	if err != nil {
		return err
	}
	if _, err := e.start(name, argv, env); err != nil {
		return err
	}
	return waitReady(fmt.Sprintf("http://127.0.0.1:%d/readyz", ports["http"]), 20*time.Second)
}

func (e *e2e) find(kind, component string) (*doc, obj) {
	for i := range e.docs {
		d := &e.docs[i]
		if d.Kind == kind && getStr(d.Body, "metadata", "labels", "app.kubernetes.io/component") == component {
			var spec obj
			if kind == "Secret" {
				spec = getObj(d.Body, "data")
			} else {
				spec = getObj(d.Body, "spec", "template", "spec")
			}
			return d, spec
		}
	}
	return nil, nil
}

// local maps an in-pod path to this run's directory.
func (e *e2e) local(p string) string {
	return filepath.Join(e.tmp, "root", p)
}

// writeSecret writes a rendered Secret's keys as files of a Secret volume.
func (e *e2e) writeSecret(component, mountPath string) error {
	d, data := e.find("Secret", component)
	if d == nil {
		return fmt.Errorf("no Secret for %s rendered", component)
	}
	dir := e.local(mountPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for k, v := range data {
		b, err := base64.StdEncoding.DecodeString(fmt.Sprint(v))
		if err != nil {
			return fmt.Errorf("Secret %s key %s: %v", d.Name, k, err)
		}
		if err := os.WriteFile(filepath.Join(dir, k), b, 0o440); err != nil {
			return err
		}
	}
	return nil
}

func (e *e2e) start(name string, args []string, env []string) (*exec.Cmd, error) {
	logPath := filepath.Join(e.tmp, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(append(baseEnv(), "PATH="+e.binDir+":/usr/bin:/bin"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	e.procs = append(e.procs, cmd)
	e.logs = append(e.logs, logPath)
	return cmd, nil
}

func (e *e2e) stopAll() {
	for _, p := range e.procs {
		if p.Process != nil {
			p.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range e.procs {
		done := make(chan struct{})
		go func(p *exec.Cmd) { p.Wait(); close(done) }(p)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			p.Process.Kill()
			<-done
		}
	}
}

func (e *e2e) dumpLogs() {
	for _, l := range e.logs {
		b, _ := os.ReadFile(l)
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		fmt.Fprintf(os.Stderr, "---- %s (tail)\n%s\n", filepath.Base(l), b)
	}
}

func waitReady(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := http.Client{Timeout: time.Second}
	last := ""
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(b.String()))
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %s", url, limit, last)
}

// daemonCommand turns a manifest container into a local command line:
// in-pod paths under the run directory, listen and http addresses on the
// given loopback ports, the scheduler and Redis addresses local.
func (e *e2e) daemonCommand(ctr obj, ports map[string]int, podIndex int) ([]string, []string, error) {
	cmd := []string{filepath.Join(e.binDir, fmt.Sprint(getList(ctr, "command")[0]))}
	for _, ai := range getList(ctr, "args") {
		a := strings.ReplaceAll(fmt.Sprint(ai), "$(POD_INDEX)", fmt.Sprint(podIndex))
		kv := strings.SplitN(strings.TrimPrefix(a, "--"), "=", 2)
		switch {
		case len(kv) == 1:
		case kv[0] == "http":
			a = fmt.Sprintf("--http=127.0.0.1:%d", ports["http"])
		case strings.HasSuffix(kv[0], "listen"):
			a = fmt.Sprintf("--%s=tcp://127.0.0.1:%d", kv[0], ports[kv[0]])
		case kv[0] == "memsync":
			if e.memsync == 0 {
				return nil, nil, fmt.Errorf("--memsync is set but no MemSync was rendered")
			}
			a = fmt.Sprintf("--memsync=tcp://127.0.0.1:%d", e.memsync)
		case kv[0] == "scheduler":
			_, port := splitHostPort(strings.TrimPrefix(kv[1], "tcp://"))
			local, ok := e.sched[fmt.Sprint(port)]
			if !ok {
				return nil, nil, fmt.Errorf("--scheduler port %d is no scheduler port", port)
			}
			a = fmt.Sprintf("--scheduler=tcp://127.0.0.1:%d", local)
		case strings.HasPrefix(kv[1], "/"):
			a = "--" + kv[0] + "=" + e.local(kv[1])
		}
		cmd = append(cmd, a)
	}
	var env []string
	for _, ei := range getList(ctr, "env") {
		name := getStr(ei, "name")
		if !strings.HasPrefix(name, "VERITY_") {
			continue
		}
		v := getStr(ei, "value")
		if name == "VERITY_REDIS" {
			v = e.redis
		}
		env = append(env, name+"="+v)
	}
	return cmd, env, nil
}

func cmdE2E(args []string) error {
	fs := flag.NewFlagSet("e2e", flag.ExitOnError)
	chartDir := fs.String("chart", "", "chart directory")
	binDir := fs.String("bin-dir", "", "directory with the Verity binaries")
	verifiers := fs.Int("verifiers", 2, "verifier replicas to render and start")
	identity := fs.Bool("identity", false, "serve the built-in identity model instead of a synthetic GGUF")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := loadChart(*chartDir)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "verity-helm-e2e-")
	if err != nil {
		return err
	}
	e := &e2e{tmp: tmp, binDir: *binDir, sched: map[string]int{}}
	sets := []string{fmt.Sprintf("verifier.replicaCount=%d", *verifiers)}
	if *identity {
		sets = append(sets, "worker.identity=true")
	} else {
		// A small synthetic model on the "PVC", as models.items describes it.
		sha, err := e.synthModel("/models/e2e.gguf")
		if err != nil {
			os.RemoveAll(tmp)
			return err
		}
		sets = append(sets, "models.source=pvc", "models.pvc.existingClaim=e2e-models",
			"models.items[0].name=e2e", "models.items[0].file=e2e.gguf", "models.items[0].sha256="+sha)
	}
	r, err := render(c, RenderOptions{ReleaseName: "vt", Namespace: "verity", Sets: sets})
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	ok := false
	defer func() {
		e.stopAll()
		if !ok {
			e.dumpLogs()
			fmt.Fprintf(os.Stderr, "run directory kept: %s\n", tmp)
		} else {
			os.RemoveAll(tmp)
		}
	}()
	for _, m := range r.Manifests {
		var raw interface{}
		if err := yamlv3.Unmarshal([]byte(m.Body), &raw); err != nil {
			return err
		}
		shaped, _ := jsonShape(raw)
		body := shaped.(obj)
		e.docs = append(e.docs, doc{Kind: getStr(body, "kind"), Name: getStr(body, "metadata", "name"), Body: body})
	}
	for _, bin := range []string{"verity", "verity-scheduler", "verity-worker", "verity-verifier"} {
		if _, err := os.Stat(filepath.Join(*binDir, bin)); err != nil {
			return fmt.Errorf("%s not built in %s", bin, *binDir)
		}
	}

	// Secrets as the pods see them.
	for _, s := range []struct{ component, mount string }{
		{"scheduler", "/etc/verity/key"}, {"auth", "/etc/verity/auth"},
		{"worker", "/etc/verity/keys/worker"}, {"verifier", "/etc/verity/keys/verifier"},
	} {
		if err := e.writeSecret(s.component, s.mount); err != nil {
			return err
		}
	}
	// The worker and verifiers mount their key Secret at /etc/verity/key.
	for _, role := range []string{"worker", "verifier"} {
		if err := os.Symlink(e.local("/etc/verity/keys/"+role), filepath.Join(tmp, role+"-key")); err != nil {
			return err
		}
	}

	// Redis, as tests do it: own port, own directory, AOF on.
	rport, err := freePort()
	if err != nil {
		return err
	}
	if _, err := e.start("redis", []string{"redis-server", "--port", fmt.Sprint(rport), "--bind", "127.0.0.1",
		"--dir", tmp, "--save", "", "--appendonly", "yes"}, nil); err != nil {
		return err
	}
	e.redis = fmt.Sprintf("redis://127.0.0.1:%d", rport)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", rport)); err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The registration Job's script, with its env and paths made local.
	_, jobSpec := e.find("Job", "node-registration")
	if jobSpec == nil {
		return fmt.Errorf("no node registration Job rendered")
	}
	jctr := getList(jobSpec, "containers")[0].(obj)
	jcmd := getList(jctr, "command")
	script := strings.ReplaceAll(fmt.Sprint(jcmd[len(jcmd)-1]), "/etc/verity/", e.local("/etc/verity")+"/")
	jenv := []string{"VERITY_REDIS=" + e.redis}
	for _, ei := range getList(jctr, "env") {
		if n := getStr(ei, "name"); n != "VERITY_REDIS" {
			jenv = append(jenv, n+"="+getStr(ei, "value"))
		}
	}
	runJob := func() (string, error) {
		cmd := exec.Command("/bin/sh", "-ec", script)
		cmd.Env = append(append(baseEnv(), "PATH="+*binDir+":/usr/bin:/bin"), jenv...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := runJob()
	if err != nil {
		return fmt.Errorf("registration Job failed: %v\n%s", err, out)
	}
	if n := strings.Count(out, " added as "); n != 1+*verifiers {
		return fmt.Errorf("registration Job added %d nodes, want %d:\n%s", n, 1+*verifiers, out)
	}
	out, err = runJob()
	if err != nil || strings.Count(out, "already allow-listed") != 1+*verifiers {
		return fmt.Errorf("second registration run is not idempotent (%v):\n%s", err, out)
	}
	fmt.Printf("ok   registration Job allow-listed 1 worker and %d verifier keys, and is idempotent\n", *verifiers)

	// MemSync with the chart's args: the scheduler dials it for memory jobs,
	// with the same Redis and auth secret.
	if _, mspec := e.find("Deployment", "memsync"); mspec != nil {
		mports, err := freePorts("http", "listen")
		if err != nil {
			return err
		}
		if err := e.runDaemon("memsync", getList(mspec, "containers")[0].(obj), mports); err != nil {
			return fmt.Errorf("memsync with the chart's auth secret: %v", err)
		}
		e.memsync = mports["listen"]
		fmt.Println("ok   memsync ready with the chart-generated auth secret")
	}

	// Scheduler with the chart's args.
	_, sspec := e.find("Deployment", "scheduler")
	sctr := getList(sspec, "containers")[0].(obj)
	ports, err := freePorts("http", "agent-listen", "worker-listen", "verifier-listen")
	if err != nil {
		return err
	}
	for _, pi := range getList(sctr, "ports") {
		switch get(pi, "name") {
		case "worker":
			e.sched[fmt.Sprint(toInt(get(pi, "containerPort")))] = ports["worker-listen"]
		case "verifier":
			e.sched[fmt.Sprint(toInt(get(pi, "containerPort")))] = ports["verifier-listen"]
		}
	}
	if err := e.runDaemon("scheduler", sctr, ports); err != nil {
		return fmt.Errorf("scheduler with the chart's key and auth secret: %v", err)
	}
	fmt.Println("ok   scheduler ready with the chart-generated key and auth secret")

	// One worker, and every verifier ordinal, with their keys at the paths
	// the pods use.
	type node struct {
		kind, component, keyDir string
		index                   int
	}
	nodes := []node{{"Deployment", "worker", "worker-key", 0}}
	for i := 0; i < *verifiers; i++ {
		nodes = append(nodes, node{"StatefulSet", "verifier", "verifier-key", i})
	}
	for _, n := range nodes {
		_, spec := e.find(n.kind, n.component)
		ctr := getList(spec, "containers")[0].(obj)
		hp, err := freePort()
		if err != nil {
			return err
		}
		argv, env, err := e.daemonCommand(ctr, map[string]int{"http": hp}, n.index)
		if err != nil {
			return err
		}
		for i, a := range argv {
			argv[i] = strings.Replace(a, e.local("/etc/verity/key"), filepath.Join(tmp, n.keyDir), 1)
		}
		name := fmt.Sprintf("%s-%d", n.component, n.index)
		if _, err := e.start(name, argv, env); err != nil {
			return err
		}
		if err := waitReady(fmt.Sprintf("http://127.0.0.1:%d/readyz", hp), 30*time.Second); err != nil {
			return fmt.Errorf("%s (registered by the Job, chart args): %v", name, err)
		}
		fmt.Printf("ok   %s ready: its key is allow-listed and the scheduler accepted it\n", name)
	}

	// NOTES.txt's first-job instructions, as an operator would type them.
	apiKey, err := e.followNotes(r.Notes, ports["agent-listen"])
	if err != nil {
		return err
	}
	if e.memsync != 0 && !*identity {
		if err := e.memoryJobs(apiKey, ports["agent-listen"]); err != nil {
			return err
		}
	}

	// A revoked key stops the Job with its message.
	pub, err := exec.Command(filepath.Join(*binDir, "verity"), "pubkey", e.local("/etc/verity/keys/worker/node.key")).Output()
	if err != nil {
		return fmt.Errorf("verity pubkey: %v", err)
	}
	rev := exec.Command(filepath.Join(*binDir, "verity"), "node", "revoke", strings.TrimSpace(string(pub)))
	rev.Env = append(baseEnv(), "VERITY_REDIS="+e.redis)
	if b, err := rev.CombinedOutput(); err != nil {
		return fmt.Errorf("verity node revoke: %v\n%s", err, b)
	}
	out, err = runJob()
	if err == nil || !strings.Contains(out, "is revoked") {
		return fmt.Errorf("registration Job with a revoked worker key should fail with a message (%v):\n%s", err, out)
	}
	fmt.Println("ok   registration Job refuses a revoked key")
	ok = true
	return nil
}

// runBounded runs cmd to its end, killing it after limit.
func runBounded(cmd *exec.Cmd, limit time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("no answer in %v", limit)
	}
}

// shellWords splits a command line (double and single quotes, no
// expansion), enough for the commands NOTES.txt prints.
func shellWords(line string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case quote != 0 && ch == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(ch)
		case ch == '"' || ch == '\'':
			quote, inWord = ch, true
		case ch == ' ' || ch == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// followNotes runs the `verity ...` commands of NOTES.txt in order, with
// the addresses an operator would have after port-forwarding replaced by
// this run's local ones, and the API key from `agent add` passed on.
func (e *e2e) followNotes(notes string, agentPort int) (string, error) {
	notes = strings.ReplaceAll(notes, "\\\n", " ")
	apiKey := ""
	ran := 0
	for _, line := range strings.Split(notes, "\n") {
		words := shellWords(strings.TrimSpace(line))
		if len(words) < 2 || words[0] != "verity" {
			continue
		}
		argv := []string{filepath.Join(e.binDir, "verity")}
		for i := 1; i < len(words); i++ {
			w := words[i]
			argv = append(argv, w)
			if i+1 >= len(words) {
				continue
			}
			switch w {
			case "--redis":
				argv = append(argv, e.redis)
				i++
			case "--auth-secret":
				argv = append(argv, e.local("/etc/verity/auth/auth-secret"))
				i++
			case "--url":
				argv = append(argv, fmt.Sprintf("tcp://127.0.0.1:%d", agentPort))
				i++
			case "--api-key":
				if apiKey == "" {
					return "", fmt.Errorf("NOTES.txt uses an API key before creating one")
				}
				argv = append(argv, apiKey)
				i++
			}
		}
		if words[1] == "submit" {
			argv = append(argv, "--timeout-ms", "30000")
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = baseEnv()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := runBounded(cmd, 90*time.Second); err != nil {
			return "", fmt.Errorf("NOTES.txt step %q failed: %v\n%s%s", strings.Join(words, " "), err, stdout.String(), stderr.String())
		}
		if words[1] == "submit" && !strings.Contains(stderr.String()+stdout.String(), " verified") {
			return "", fmt.Errorf("NOTES.txt's first job was not reported verified:\n%s%s", stdout.String(), stderr.String())
		}
		if words[1] == "agent" && len(words) > 2 && words[2] == "add" {
			apiKey = strings.TrimSpace(strings.SplitN(stdout.String(), "\n", 2)[0])
			if !strings.HasPrefix(apiKey, "vtk_") {
				return "", fmt.Errorf("verity agent add printed no API key:\n%s", stdout.String())
			}
		}
		summary := strings.Join(strings.Fields(stderr.String()+" "+stdout.String()), " ")
		if len(summary) > 160 {
			summary = summary[:160] + "..."
		}
		fmt.Printf("ok   NOTES.txt: verity %s: %s\n", words[1], summary)
		ran++
	}
	if ran < 2 {
		return "", fmt.Errorf("NOTES.txt has %d verity commands, want agent add and submit", ran)
	}
	return apiKey, nil
}

// submit runs `verity submit` against the local scheduler and returns its
// output; the job must be reported verified.
func (e *e2e) submit(apiKey string, agentPort int, args ...string) (string, error) {
	argv := append([]string{"submit", "--url", fmt.Sprintf("tcp://127.0.0.1:%d", agentPort),
		"--api-key", apiKey, "--timeout-ms", "30000"}, args...)
	cmd := exec.Command(filepath.Join(e.binDir, "verity"), argv...)
	cmd.Env = baseEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := runBounded(cmd, 90*time.Second)
	if err == nil && !strings.Contains(out.String(), " verified") {
		err = fmt.Errorf("not reported verified")
	}
	if err != nil {
		return "", fmt.Errorf("verity %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// memoryJobs: the scheduler reaches MemSync at the address the chart gives
// it (--memsync), with the shared Redis and auth secret: a text job with
// --remember is stored, and a later --memory-k job is verified.
func (e *e2e) memoryJobs(apiKey string, agentPort int) error {
	if _, err := e.submit(apiKey, agentPort, "--model", "e2e", "--prompt", "The sky is", "--max-tokens", "4", "--remember"); err != nil {
		return fmt.Errorf("memory job (--remember) through the chart's --memsync: %v", err)
	}
	if _, err := e.submit(apiKey, agentPort, "--model", "e2e", "--prompt", "What colour is the sky?", "--max-tokens", "4", "--memory-k", "1"); err != nil {
		return fmt.Errorf("memory job (--memory-k) through the chart's --memsync: %v", err)
	}
	fmt.Println("ok   memory jobs (--remember, then --memory-k 1) verified through the chart's --memsync")
	return nil
}

// synthModel writes verity-model's smallest synthetic GGUF at an in-pod
// path and returns its SHA-256.
func (e *e2e) synthModel(podPath string) (string, error) {
	out := e.local(podPath)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	tool := filepath.Join(e.binDir, "verity-model")
	if _, err := os.Stat(tool); err != nil {
		return "", fmt.Errorf("verity-model not built in %s (the e2e test synthesizes its model with it)", e.binDir)
	}
	cmd := exec.Command(tool, "synth", "--preset", "tiny", "--type", "q8_0", "--seed", "1", "-o", out)
	cmd.Env = baseEnv()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s synth: %v\n%s", tool, err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", sha256.Sum256(data)), nil
}
