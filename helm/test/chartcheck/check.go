package main

// Checks of one rendering of the chart: structure, pod hygiene, and that
// every flag, variable, port, probe and address the manifests use is one the
// daemons (their --help) and the other manifests actually provide.

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yamlv3 "gopkg.in/yaml.v3"
)

type obj = map[string]interface{}

// doc is one parsed manifest.
type doc struct {
	Source string
	Kind   string
	Name   string
	Body   obj
}

// podTemplate is a pod spec found in a workload, with its labels.
type podTemplate struct {
	Owner    string // "Deployment/x"
	Labels   map[string]string
	Spec     obj
	Batch    bool     // a Job: runs to completion, so no liveness/readiness
	Claims   []string // StatefulSet volumeClaimTemplates: volumes too
	Kind     string
	Replicas int
}

// daemons are the programs the chart runs, by container command.
var daemons = map[string]bool{
	"verity-scheduler": true, "verity-worker": true,
	"verity-verifier": true, "verity-memsync": true,
}

// checker accumulates problems for one rendering.
type checker struct {
	name    string
	values  obj
	docs    []doc
	pods    []podTemplate
	help    map[string]*helpInfo // daemon name -> --help
	binDir  string
	cliSubs map[string]bool
	cliHelp map[string]*helpInfo // "node" -> verity node --help
	errs    []string
}

func (c *checker) fail(format string, a ...interface{}) {
	c.errs = append(c.errs, fmt.Sprintf("[%s] ", c.name)+fmt.Sprintf(format, a...))
}

func get(o interface{}, keys ...string) interface{} {
	for _, k := range keys {
		m, ok := o.(obj)
		if !ok {
			return nil
		}
		o = m[k]
	}
	return o
}

func getObj(o interface{}, keys ...string) obj {
	m, _ := get(o, keys...).(obj)
	return m
}

func getList(o interface{}, keys ...string) []interface{} {
	l, _ := get(o, keys...).([]interface{})
	return l
}

func getStr(o interface{}, keys ...string) string {
	s, _ := get(o, keys...).(string)
	return s
}

func strMap(o obj) map[string]string {
	out := map[string]string{}
	for k, v := range o {
		out[k] = fmt.Sprint(v)
	}
	return out
}

var dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// checkRendering runs every check on one successful rendering.
func (c *checker) checkRendering(r *Rendered) {
	seen := map[string]bool{}
	for _, m := range r.Manifests {
		for i, line := range strings.Split(m.Body, "\n") {
			if strings.TrimRight(line, " \t") != line {
				// Usually a template whitespace slip; it hides real
				// indentation mistakes in diffs.
				c.fail("%s: line %d of a document ends in whitespace: %q", m.Source, i+1, line)
				break
			}
		}
		var raw interface{}
		if err := yamlv3.Unmarshal([]byte(m.Body), &raw); err != nil {
			c.fail("%s: does not parse: %v", m.Source, err)
			continue
		}
		shaped, _ := jsonShape(raw)
		body, ok := shaped.(obj)
		if !ok {
			c.fail("%s: a document is not a map", m.Source)
			continue
		}
		d := doc{Source: m.Source, Kind: getStr(body, "kind"), Name: getStr(body, "metadata", "name"), Body: body}
		if getStr(body, "apiVersion") == "" || d.Kind == "" || d.Name == "" {
			c.fail("%s: document without apiVersion, kind or metadata.name", m.Source)
			continue
		}
		if len(d.Name) > 253 || !dnsSubdomainRE.MatchString(d.Name) {
			c.fail("%s %s: name is not a DNS subdomain", d.Kind, d.Name)
		}
		if (d.Kind == "Service" || d.Kind == "StatefulSet") && (len(d.Name) > 63 || !dnsLabelRE.MatchString(d.Name)) {
			c.fail("%s %s: name must be a DNS label (63 chars)", d.Kind, d.Name)
		}
		key := d.Kind + "/" + d.Name
		if seen[key] {
			c.fail("%s rendered twice", key)
		}
		seen[key] = true
		c.docs = append(c.docs, d)
		c.checkLabels(d)
		c.collectPods(d)
	}
	for _, p := range c.pods {
		c.checkPod(p)
	}
	c.checkServices()
	c.checkSelectors()
	c.checkNetworkPolicies()
	c.checkNotes(r.Notes)
}

func (c *checker) collectPods(d doc) {
	var tmpl obj
	batch := false
	switch d.Kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet":
		tmpl = getObj(d.Body, "spec", "template")
	case "Job":
		tmpl, batch = getObj(d.Body, "spec", "template"), true
	case "CronJob":
		tmpl, batch = getObj(d.Body, "spec", "jobTemplate", "spec", "template"), true
	case "Pod":
		tmpl = d.Body
	default:
		return
	}
	if tmpl == nil {
		c.fail("%s/%s: no pod template", d.Kind, d.Name)
		return
	}
	p := podTemplate{Owner: d.Kind + "/" + d.Name, Labels: strMap(getObj(tmpl, "metadata", "labels")), Spec: getObj(tmpl, "spec"), Batch: batch}
	p.Kind, p.Replicas = d.Kind, toInt(get(d.Body, "spec", "replicas"))
	for _, vct := range getList(d.Body, "spec", "volumeClaimTemplates") {
		p.Claims = append(p.Claims, getStr(vct, "metadata", "name"))
	}
	if d.Kind != "Pod" {
		sel := strMap(getObj(d.Body, "spec", "selector", "matchLabels"))
		if d.Kind != "Job" && d.Kind != "CronJob" && !labelsMatch(sel, p.Labels) {
			c.fail("%s: spec.selector does not match the pod template's labels", p.Owner)
		}
	}
	c.pods = append(c.pods, p)
}

func labelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (c *checker) podsSelectedBy(selector map[string]string) []podTemplate {
	var out []podTemplate
	for _, p := range c.pods {
		if labelsMatch(selector, p.Labels) {
			out = append(out, p)
		}
	}
	return out
}

// containerPort resolves a port (name or number) against a container.
func containerPort(ctr obj, port interface{}) (int, bool) {
	for _, pi := range getList(ctr, "ports") {
		p := pi.(obj)
		n := toInt(p["containerPort"])
		switch v := port.(type) {
		case string:
			if p["name"] == v {
				return n, true
			}
		default:
			if toInt(v) == n {
				return n, true
			}
		}
	}
	return 0, false
}

func toInt(v interface{}) int {
	switch t := v.(type) {
	case float64:
		return int(t)
	case int:
		return t
	case int64:
		return int(t)
	case string:
		n, _ := strconv.Atoi(t)
		return n
	}
	return 0
}

func (c *checker) checkPod(p podTemplate) {
	podSec := getObj(p.Spec, "securityContext")
	if podSec["runAsNonRoot"] != true {
		c.fail("%s: pod securityContext.runAsNonRoot is not true", p.Owner)
	}
	volumes := map[string]obj{}
	for _, vi := range getList(p.Spec, "volumes") {
		v := vi.(obj)
		volumes[fmt.Sprint(v["name"])] = v
	}
	for _, claim := range p.Claims {
		volumes[claim] = obj{"name": claim, "persistentVolumeClaim": obj{"claimName": claim}}
	}
	for _, v := range volumes {
		if name := getStr(v, "secret", "secretName"); name != "" {
			c.requireSecret(p.Owner, name)
		}
		if name := getStr(v, "persistentVolumeClaim", "claimName"); name == "" && get(v, "persistentVolumeClaim") != nil {
			c.fail("%s: volume %v has an empty claimName", p.Owner, v["name"])
		}
	}
	kinds := []struct {
		key  string
		init bool
	}{{"initContainers", true}, {"containers", false}}
	for _, k := range kinds {
		for _, ci := range getList(p.Spec, k.key) {
			ctr := ci.(obj)
			where := fmt.Sprintf("%s container %v", p.Owner, ctr["name"])
			c.checkContainerBasics(where, ctr, volumes)
			probesWanted := !k.init && !p.Batch
			for _, probe := range []string{"livenessProbe", "readinessProbe"} {
				has := get(ctr, probe) != nil
				if probesWanted && !has {
					c.fail("%s: no %s", where, probe)
				}
				if !probesWanted && has {
					// Kubernetes rejects probes on init containers, and a
					// Job's container would be restarted mid-run.
					c.fail("%s: %s on an init or Job container", where, probe)
				}
			}
			c.checkProbes(where, ctr)
			cmd := getList(ctr, "command")
			if len(cmd) > 0 && daemons[fmt.Sprint(cmd[0])] {
				c.checkDaemon(where, fmt.Sprint(cmd[0]), ctr, p)
			}
			c.checkCLIUse(where, ctr)
		}
	}
	if len(getList(p.Spec, "containers")) == 0 {
		c.fail("%s: no containers", p.Owner)
	}
}

func (c *checker) checkContainerBasics(where string, ctr obj, volumes map[string]obj) {
	img := getStr(ctr, "image")
	if img == "" || strings.HasSuffix(img, ":latest") || !strings.Contains(path.Base(img), ":") {
		c.fail("%s: image %q must name a pinned tag", where, img)
	}
	res := getObj(ctr, "resources")
	if getObj(res, "requests") == nil || get(res, "requests", "cpu") == nil || get(res, "requests", "memory") == nil {
		c.fail("%s: resources.requests needs cpu and memory", where)
	}
	if get(res, "limits", "memory") == nil {
		c.fail("%s: resources.limits.memory is missing", where)
	}
	sc := getObj(ctr, "securityContext")
	if sc["readOnlyRootFilesystem"] != true {
		c.fail("%s: readOnlyRootFilesystem is not true", where)
	}
	if sc["allowPrivilegeEscalation"] != false {
		c.fail("%s: allowPrivilegeEscalation is not false", where)
	}
	if sc["runAsNonRoot"] != true {
		c.fail("%s: runAsNonRoot is not true", where)
	}
	dropsAll := false
	for _, d := range getList(sc, "capabilities", "drop") {
		if d == "ALL" {
			dropsAll = true
		}
	}
	if !dropsAll || getList(sc, "capabilities", "add") != nil {
		c.fail("%s: capabilities must drop ALL and add none", where)
	}
	for _, mi := range getList(ctr, "volumeMounts") {
		name := fmt.Sprint(get(mi, "name"))
		if _, ok := volumes[name]; !ok {
			c.fail("%s: volumeMount %s has no volume", where, name)
		}
	}
	// API-server validation the cluster would do at apply time.
	for _, pi := range getList(ctr, "ports") {
		name := getStr(pi, "name")
		if name != "" && (len(name) > 15 || !portNameRE.MatchString(name)) {
			c.fail("%s: port name %q is not an IANA service name (<= 15 chars, a-z0-9-)", where, name)
		}
		if n := toInt(get(pi, "containerPort")); n < 1 || n > 65535 {
			c.fail("%s: containerPort %v out of range", where, get(pi, "containerPort"))
		}
	}
	envSeen := map[string]bool{}
	for _, ei := range getList(ctr, "env") {
		name := getStr(ei, "name")
		if envSeen[name] {
			c.fail("%s: env %s is set twice", where, name)
		}
		envSeen[name] = true
	}
}

var portNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
var labelValueRE = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)

// checkLabels: label values the API server would reject.
func (c *checker) checkLabels(d doc) {
	check := func(where string, labels obj) {
		for k, v := range labels {
			s, ok := v.(string)
			if !ok {
				c.fail("%s %s: %s label %s is not a string (%T); quote it", d.Kind, d.Name, where, k, v)
				continue
			}
			if len(s) > 63 || !labelValueRE.MatchString(s) {
				c.fail("%s %s: %s label %s=%q is not a valid label value", d.Kind, d.Name, where, k, s)
			}
		}
	}
	check("metadata", getObj(d.Body, "metadata", "labels"))
	check("pod template", getObj(d.Body, "spec", "template", "metadata", "labels"))
	for _, a := range []obj{getObj(d.Body, "metadata", "annotations"), getObj(d.Body, "spec", "template", "metadata", "annotations")} {
		for k, v := range a {
			if _, ok := v.(string); !ok {
				c.fail("%s %s: annotation %s is not a string (%T); quote it", d.Kind, d.Name, k, v)
			}
		}
	}
}

func (c *checker) checkProbes(where string, ctr obj) {
	for _, probe := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		hg := getObj(ctr, probe, "httpGet")
		if hg == nil {
			if pr := getObj(ctr, probe); pr != nil && getObj(pr, "exec") == nil && getObj(pr, "tcpSocket") == nil {
				c.fail("%s: %s has no handler", where, probe)
			}
			continue
		}
		if _, ok := containerPort(ctr, hg["port"]); !ok {
			c.fail("%s: %s port %v is not a container port", where, probe, hg["port"])
		}
		want := "/healthz"
		if probe == "readinessProbe" {
			want = "/readyz"
		}
		if hg["path"] != want {
			c.fail("%s: %s path is %v, the daemons serve %s", where, probe, hg["path"], want)
		}
	}
}

// requireSecret: a Secret volume must name a rendered Secret or one the
// values say exists already.
func (c *checker) requireSecret(owner, name string) {
	for _, d := range c.docs {
		if d.Kind == "Secret" && d.Name == name {
			return
		}
	}
	for _, k := range []interface{}{get(c.values, "keys", "scheduler", "existingSecret"), get(c.values, "keys", "worker", "existingSecret"),
		get(c.values, "keys", "verifier", "existingSecret"), get(c.values, "auth", "existingSecret")} {
		if k == name {
			return
		}
	}
	c.fail("%s: Secret %s is neither rendered nor an existingSecret", owner, name)
}

// daemonArgs splits "--flag=value" / "--flag" arguments.
func daemonArgs(ctr obj) ([][2]string, []string) {
	var out [][2]string
	var bad []string
	for _, ai := range getList(ctr, "args") {
		a := fmt.Sprint(ai)
		if !strings.HasPrefix(a, "--") {
			bad = append(bad, a)
			continue
		}
		kv := strings.SplitN(a[2:], "=", 2)
		if len(kv) == 1 {
			out = append(out, [2]string{kv[0], "\x00"})
		} else {
			out = append(out, [2]string{kv[0], kv[1]})
		}
	}
	return out, bad
}

func (c *checker) checkDaemon(where, bin string, ctr obj, p podTemplate) {
	h := c.help[bin]
	if h == nil {
		c.fail("%s: no --help for %s", where, bin)
		return
	}
	args, bad := daemonArgs(ctr)
	for _, b := range bad {
		c.fail("%s: argument %q is not --flag[=value] (the chart always writes --flag=value)", where, b)
	}
	given := map[string]string{}
	var settings [][2]string // every flag given, repeatable ones each time
	for _, kv := range args {
		o, ok := h.Flags[kv[0]]
		if !ok {
			c.fail("%s: %s has no flag --%s", where, bin, kv[0])
			continue
		}
		if kv[1] == "\x00" && o.Metavar != "" {
			c.fail("%s: --%s needs a value (%s)", where, kv[0], o.Metavar)
		}
		given[kv[0]] = kv[1]
		settings = append(settings, kv)
	}
	envs := map[string]string{}
	for _, ei := range getList(ctr, "env") {
		name := fmt.Sprint(get(ei, "name"))
		envs[name] = getStr(ei, "value")
		if strings.HasPrefix(name, "VERITY_") {
			flag, ok := h.Envs[name]
			if !ok {
				c.fail("%s: %s reads no variable %s", where, bin, name)
				continue
			}
			if _, dup := given[flag]; dup {
				c.fail("%s: both --%s and %s are set (the flag silently wins)", where, flag, name)
			}
			given[flag] = envs[name]
			settings = append(settings, [2]string{flag, envs[name]})
		}
	}
	for _, o := range h.Flags {
		if o.Required {
			if _, ok := given[o.Flag]; !ok {
				c.fail("%s: required --%s (%s) is not set", where, o.Flag, o.Env)
			}
		}
	}
	mounts := map[string]obj{}
	for _, mi := range getList(ctr, "volumeMounts") {
		mounts[getStr(mi, "mountPath")] = mi.(obj)
	}
	bound := map[int]string{} // container port -> flag that binds it
	for _, kv := range settings {
		flag, val := kv[0], kv[1]
		o := h.Flags[flag]
		switch {
		case o.Metavar == "FILE" || o.Metavar == "GGUF" || flag == "key" || flag == "auth-secret":
			for _, v := range c.expandVars(where, val, ctr, p) {
				c.checkFileInMount(where, flag, v, mounts, p)
			}
		case flag == "model":
			file := strings.SplitN(val, "@", 2)[0]
			c.checkFileInMount(where, flag, file, mounts, p)
		case flag == "http":
			host, port := splitHostPort(val)
			if host != "0.0.0.0" && host != "[::]" {
				c.fail("%s: --http=%s binds %s; the kubelet and Prometheus cannot reach it", where, val, host)
			}
			if n, ok := containerPort(ctr, "http"); !ok || n != port {
				c.fail("%s: --http port %d is not the container port named http (%d)", where, port, n)
			}
			bound[port] = flag
		case strings.HasSuffix(flag, "listen"):
			u, err := url.Parse(val)
			if err != nil || u.Scheme != "tcp" {
				c.fail("%s: --%s=%s is not a tcp:// URL", where, flag, val)
				continue
			}
			host, port := splitHostPort(u.Host)
			if host != "0.0.0.0" && host != "[::]" {
				c.fail("%s: --%s binds %s; other pods cannot reach it", where, flag, host)
			}
			if _, ok := containerPort(ctr, port); !ok {
				c.fail("%s: --%s port %d is not a container port", where, flag, port)
			}
			bound[port] = flag
		case flag == "scheduler":
			c.checkSchedulerAddr(where, bin, val, p)
		case flag == "memsync":
			c.checkServiceAddr(where, flag, val, "listen", p)
		case flag == "redis":
			c.checkRedisAddr(where, val)
		}
	}
	for _, pi := range getList(ctr, "ports") {
		n := toInt(get(pi, "containerPort"))
		if _, ok := bound[n]; !ok {
			c.fail("%s: container port %d (%v) is bound by no flag", where, n, get(pi, "name"))
		}
	}
	if ann := getObj(c.podAnnotations(p)); ann != nil {
		if port, ok := ann["prometheus.io/port"]; ok {
			if n, _ := containerPort(ctr, "http"); fmt.Sprint(n) != fmt.Sprint(port) {
				c.fail("%s: prometheus.io/port %v is not the http port %d", where, port, n)
			}
		}
	}
}

func (c *checker) podAnnotations(p podTemplate) obj {
	for _, d := range c.docs {
		if d.Kind+"/"+d.Name == p.Owner {
			return getObj(d.Body, "spec", "template", "metadata", "annotations")
		}
	}
	return nil
}

func splitHostPort(hp string) (string, int) {
	i := strings.LastIndex(hp, ":")
	if i < 0 {
		return hp, 0
	}
	n, _ := strconv.Atoi(hp[i+1:])
	return hp[:i], n
}

var varRefRE = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandVars does the kubelet's $(VAR) expansion of an argument, once per
// pod of the workload (the StatefulSet pod-index label differs per pod).
func (c *checker) expandVars(where, val string, ctr obj, p podTemplate) []string {
	if !varRefRE.MatchString(val) {
		return []string{val}
	}
	plain := map[string]string{}
	indexVars := map[string]bool{}
	for _, ei := range getList(ctr, "env") {
		name := getStr(ei, "name")
		if fp := getStr(ei, "valueFrom", "fieldRef", "fieldPath"); fp != "" {
			if fp == "metadata.labels['apps.kubernetes.io/pod-index']" {
				indexVars[name] = true
			}
			continue
		}
		if v, ok := get(ei, "value").(string); ok {
			plain[name] = v
		}
	}
	n := 1
	for _, m := range varRefRE.FindAllStringSubmatch(val, -1) {
		if indexVars[m[1]] {
			if p.Kind != "StatefulSet" {
				c.fail("%s: $(%s) is the StatefulSet pod index, but this is a %s", where, m[1], p.Kind)
				return nil
			}
			n = p.Replicas
		} else if _, ok := plain[m[1]]; !ok {
			c.fail("%s: %s refers to $(%s), which the container does not define before use", where, val, m[1])
			return nil
		}
	}
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, varRefRE.ReplaceAllStringFunc(val, func(ref string) string {
			name := ref[2 : len(ref)-1]
			if indexVars[name] {
				return strconv.Itoa(i)
			}
			return plain[name]
		}))
	}
	return out
}

// secretData returns the keys of a rendered Secret (nil if not rendered).
func (c *checker) secretData(name string) map[string]bool {
	for _, d := range c.docs {
		if d.Kind == "Secret" && d.Name == name {
			keys := map[string]bool{}
			for k := range getObj(d.Body, "data") {
				keys[k] = true
			}
			for k := range getObj(d.Body, "stringData") {
				keys[k] = true
			}
			return keys
		}
	}
	return nil
}

// checkFileInMount: a file flag must point into a mounted volume; for a
// Secret volume with items, to one of those items; for a rendered Secret,
// to one of its keys.
func (c *checker) checkFileInMount(where, flag, file string, mounts map[string]obj, p podTemplate) {
	for mp, m := range mounts {
		if !strings.HasPrefix(file, strings.TrimSuffix(mp, "/")+"/") {
			continue
		}
		rel := strings.TrimPrefix(file, strings.TrimSuffix(mp, "/")+"/")
		for _, vi := range getList(p.Spec, "volumes") {
			if get(vi, "name") != m["name"] {
				continue
			}
			if items := getList(vi, "secret", "items"); items != nil {
				for _, it := range items {
					if get(it, "path") == rel {
						return
					}
				}
				c.fail("%s: --%s=%s is not an item of Secret volume %v", where, flag, file, m["name"])
				return
			}
			if name := getStr(vi, "secret", "secretName"); name != "" {
				if keys := c.secretData(name); keys != nil && !keys[rel] {
					c.fail("%s: --%s=%s: Secret %s has no key %s", where, flag, file, name, rel)
				}
			}
			return
		}
	}
	c.fail("%s: --%s=%s is not inside any volumeMount", where, flag, file)
}

// service finds a rendered Service by the first label of a DNS name.
func (c *checker) service(host string) *doc {
	short := strings.SplitN(host, ".", 2)[0]
	for i := range c.docs {
		if c.docs[i].Kind == "Service" && c.docs[i].Name == short {
			return &c.docs[i]
		}
	}
	return nil
}

// resolveService follows Service port -> pods -> container port, and returns
// the daemon flag that binds that port (e.g. "worker-listen").
func (c *checker) resolveService(svc *doc, port int) (string, bool) {
	for _, pi := range getList(svc.Body, "spec", "ports") {
		if toInt(get(pi, "port")) != port {
			continue
		}
		target := get(pi, "targetPort")
		for _, p := range c.podsSelectedBy(strMap(getObj(svc.Body, "spec", "selector"))) {
			for _, ci := range getList(p.Spec, "containers") {
				ctr := ci.(obj)
				n, ok := containerPort(ctr, target)
				if !ok {
					continue
				}
				args, _ := daemonArgs(ctr)
				for _, kv := range args {
					if strings.HasSuffix(kv[0], "listen") && strings.HasSuffix(kv[1], fmt.Sprintf(":%d", n)) {
						return kv[0], true
					}
				}
				return "", true
			}
		}
	}
	return "", false
}

func (c *checker) checkSchedulerAddr(where, bin, val string, p podTemplate) {
	c.checkServiceAddr(where, "scheduler", val, strings.TrimPrefix(bin, "verity-")+"-listen", p)
}

// checkServiceAddr: a --flag=tcp://host:port a daemon dials must name a
// rendered Service whose port reaches the socket the peer binds with
// --<want>, and the peer's NetworkPolicies must let the dialling pod in.
func (c *checker) checkServiceAddr(where, flag, val, want string, p podTemplate) {
	u, err := url.Parse(val)
	if err != nil || u.Scheme != "tcp" {
		c.fail("%s: --%s=%s is not a tcp:// URL", where, flag, val)
		return
	}
	host, port := splitHostPort(u.Host)
	svc := c.service(host)
	if svc == nil {
		c.fail("%s: --%s host %s is no rendered Service", where, flag, host)
		return
	}
	got, ok := c.resolveService(svc, port)
	if !ok || got != want {
		c.fail("%s: --%s=%s reaches %q on Service %s, not its --%s socket", where, flag, val, got, svc.Name, want)
		return
	}
	c.checkIngressAllowed(where, flag, svc, port, p)
}

// checkIngressAllowed: when NetworkPolicies select a Service's pods, one of
// their rules must admit pod p on the Service port's target port (given by
// name or number); a rule without peers admits everyone.
func (c *checker) checkIngressAllowed(where, flag string, svc *doc, port int, p podTemplate) {
	var target interface{}
	for _, pi := range getList(svc.Body, "spec", "ports") {
		if toInt(get(pi, "port")) == port {
			target = get(pi, "targetPort")
		}
	}
	dest := c.podsSelectedBy(strMap(getObj(svc.Body, "spec", "selector")))
	if len(dest) == 0 {
		return
	}
	destNum, _ := containerPort(getList(dest[0].Spec, "containers")[0].(obj), target)
	selected := false
	for _, d := range c.docs {
		if d.Kind != "NetworkPolicy" || !labelsMatch(strMap(getObj(d.Body, "spec", "podSelector", "matchLabels")), dest[0].Labels) {
			continue
		}
		selected = true
		for _, ri := range getList(d.Body, "spec", "ingress") {
			portOK := false
			for _, pi := range getList(ri, "ports") {
				rp := get(pi, "port")
				if fmt.Sprint(rp) == fmt.Sprint(target) || toInt(rp) == destNum {
					portOK = true
				}
			}
			if !portOK {
				continue
			}
			from := getList(ri, "from")
			if len(from) == 0 {
				return
			}
			for _, fi := range from {
				if sel := getObj(fi, "podSelector", "matchLabels"); sel != nil && get(fi, "namespaceSelector") == nil && labelsMatch(strMap(sel), p.Labels) {
					return
				}
			}
		}
	}
	if selected {
		c.fail("%s: --%s: no NetworkPolicy of %s lets this pod in on port %v", where, flag, svc.Name, target)
	}
}

func (c *checker) checkRedisAddr(where, val string) {
	if get(c.values, "redis", "enabled") != true {
		if val != get(c.values, "redis", "external", "url") {
			c.fail("%s: Redis URL %s is not redis.external.url", where, val)
		}
		return
	}
	u, err := url.Parse(val)
	if err != nil || u.Scheme != "redis" {
		c.fail("%s: Redis URL %s is not redis://", where, val)
		return
	}
	host, port := splitHostPort(u.Host)
	svc := c.service(host)
	if svc == nil {
		c.fail("%s: Redis host %s is no rendered Service", where, host)
		return
	}
	for _, pi := range getList(svc.Body, "spec", "ports") {
		if toInt(get(pi, "port")) != port {
			continue
		}
		for _, p := range c.podsSelectedBy(strMap(getObj(svc.Body, "spec", "selector"))) {
			for _, ci := range getList(p.Spec, "containers") {
				if _, ok := containerPort(ci.(obj), get(pi, "targetPort")); ok {
					return
				}
			}
		}
	}
	c.fail("%s: Redis URL %s reaches no Redis container port", where, val)
}

var cliCallRE = regexp.MustCompile(`(-n |--namespace[ =])?\bverity ([a-z]+)((?: [^|;&)\n]*)?)`)

// cliCalls finds `verity SUB args` in shell text; "-n verity" (a namespace
// argument of kubectl) is not a call.
func cliCalls(text string) [][2]string {
	text = strings.ReplaceAll(text, "\\\n", " ") // shell line continuations
	var out [][2]string
	for _, m := range cliCallRE.FindAllStringSubmatch(text, -1) {
		if m[1] != "" {
			continue
		}
		out = append(out, [2]string{m[2], m[3]})
	}
	return out
}

// checkCLIUse checks `verity SUB --flag` calls in a container's command and
// args (shell scripts included) against `verity SUB --help`, and VERITY_*
// variables against what those sub-commands read.
func (c *checker) checkCLIUse(where string, ctr obj) {
	var text []string
	for _, k := range []string{"command", "args"} {
		for _, a := range getList(ctr, k) {
			text = append(text, fmt.Sprint(a))
		}
	}
	all := strings.Join(text, "\n")
	if !strings.Contains(all, "verity ") && !(len(text) > 0 && text[0] == "verity") {
		return
	}
	if len(text) > 0 && text[0] == "verity" {
		all = strings.Join(text, " ")
	}
	used := map[string]bool{}
	for _, m := range cliCalls(all) {
		sub := m[0]
		if c.cliSubs == nil {
			c.fail("%s: runs `verity %s` but the verity CLI is not available", where, sub)
			return
		}
		if !c.cliSubs[sub] {
			c.fail("%s: `verity %s`: no such sub-command", where, sub)
			continue
		}
		h, err := c.cliSubHelp(sub)
		if err != nil {
			c.fail("%s: %v", where, err)
			continue
		}
		used[sub] = true
		for _, tok := range strings.Fields(m[1]) {
			if !strings.HasPrefix(tok, "--") {
				continue
			}
			flag := flagName(tok)
			if _, ok := h.Flags[flag]; !ok {
				c.fail("%s: `verity %s` has no flag --%s", where, sub, flag)
			}
		}
	}
	if len(used) == 0 {
		return
	}
	for _, ei := range getList(ctr, "env") {
		name := fmt.Sprint(get(ei, "name"))
		if !strings.HasPrefix(name, "VERITY_") {
			continue
		}
		found := false
		for sub := range used {
			if _, ok := c.cliHelp[sub].Envs[name]; ok {
				found = true
			}
		}
		if !found {
			c.fail("%s: no verity sub-command it runs reads %s", where, name)
		}
	}
}

func (c *checker) cliSubHelp(sub string) (*helpInfo, error) {
	if h, ok := c.cliHelp[sub]; ok {
		return h, nil
	}
	h, err := runHelp(c.binDir, "verity", sub)
	if err != nil {
		return nil, err
	}
	c.cliHelp[sub] = h
	return h, nil
}

// checkServices: every Service selects pods that have its target ports.
func (c *checker) checkServices() {
	for _, d := range c.docs {
		if d.Kind != "Service" {
			continue
		}
		pods := c.podsSelectedBy(strMap(getObj(d.Body, "spec", "selector")))
		if len(pods) == 0 {
			c.fail("Service %s selects no pods", d.Name)
			continue
		}
		for _, pi := range getList(d.Body, "spec", "ports") {
			target := get(pi, "targetPort")
			found := false
			for _, p := range pods {
				for _, ci := range getList(p.Spec, "containers") {
					if _, ok := containerPort(ci.(obj), target); ok {
						found = true
					}
				}
			}
			if !found {
				c.fail("Service %s: targetPort %v is no port of the selected pods", d.Name, target)
			}
		}
	}
}

// checkSelectors: PDBs select pods; autoscalers target rendered Deployments.
func (c *checker) checkSelectors() {
	for _, d := range c.docs {
		c.checkMetricNames(d)
		switch d.Kind {
		case "PodDisruptionBudget":
			if len(c.podsSelectedBy(strMap(getObj(d.Body, "spec", "selector", "matchLabels")))) == 0 {
				c.fail("PodDisruptionBudget %s selects no pods", d.Name)
			}
		case "HorizontalPodAutoscaler", "ScaledObject":
			ref := getObj(d.Body, "spec", "scaleTargetRef")
			found := false
			for _, t := range c.docs {
				if t.Kind == getStr(ref, "kind") && t.Name == getStr(ref, "name") {
					found = true
					if get(t.Body, "spec", "replicas") != nil {
						c.fail("%s %s: target %s sets spec.replicas, which fights the autoscaler", d.Kind, d.Name, t.Name)
					}
				}
			}
			if !found {
				c.fail("%s %s: scaleTargetRef %v is not rendered", d.Kind, d.Name, ref)
			}
		case "ServiceMonitor":
			sel := strMap(getObj(d.Body, "spec", "selector", "matchLabels"))
			n := 0
			for _, s := range c.docs {
				if s.Kind == "Service" && labelsMatch(sel, strMap(getObj(s.Body, "metadata", "labels"))) {
					n++
				}
			}
			if n == 0 {
				c.fail("ServiceMonitor %s selects no Service", d.Name)
			}
		}
	}
}

// checkNetworkPolicies: each policy selects pods, names ports those pods
// have, and leaves no non-HTTP port open to everyone.
func (c *checker) checkNetworkPolicies() {
	for _, d := range c.docs {
		if d.Kind != "NetworkPolicy" {
			continue
		}
		pods := c.podsSelectedBy(strMap(getObj(d.Body, "spec", "podSelector", "matchLabels")))
		if len(pods) == 0 {
			c.fail("NetworkPolicy %s selects no pods", d.Name)
			continue
		}
		for _, ri := range getList(d.Body, "spec", "ingress") {
			from := getList(ri, "from")
			for _, pi := range getList(ri, "ports") {
				port := get(pi, "port")
				found := false
				for _, p := range pods {
					for _, ci := range getList(p.Spec, "containers") {
						if _, ok := containerPort(ci.(obj), port); ok {
							found = true
						}
					}
				}
				if !found {
					c.fail("NetworkPolicy %s: port %v is no port of the selected pods", d.Name, port)
				}
				if port != "http" && len(from) == 0 {
					c.fail("NetworkPolicy %s: port %v is open to every source", d.Name, port)
				}
			}
			for _, fi := range from {
				sel := strMap(getObj(fi, "podSelector", "matchLabels"))
				if sel["app.kubernetes.io/instance"] != "" && len(c.podsSelectedBy(sel)) == 0 {
					c.fail("NetworkPolicy %s: peer %v matches no pod of the chart", d.Name, sel)
				}
			}
		}
	}
}

func (c *checker) checkNotes(notes string) {
	if !strings.Contains(notes, "verity submit") || !strings.Contains(notes, "/metrics") {
		c.fail("NOTES.txt does not say how to submit a first job and where metrics are")
	}
	calls := cliCalls(notes)
	if len(calls) == 0 {
		c.fail("NOTES.txt runs no verity command")
	}
	for _, m := range calls {
		if c.cliSubs == nil || !c.cliSubs[m[0]] {
			c.fail("NOTES.txt: `verity %s`: no such sub-command", m[0])
			continue
		}
		h, err := c.cliSubHelp(m[0])
		if err != nil {
			c.fail("NOTES.txt: %v", err)
			continue
		}
		for _, tok := range strings.Fields(m[1]) {
			if strings.HasPrefix(tok, "--") {
				if _, ok := h.Flags[flagName(tok)]; !ok {
					c.fail("NOTES.txt: `verity %s` has no flag %s", m[0], tok)
				}
			}
		}
	}
}

func sortedErrs(errs []string) []string {
	sort.Strings(errs)
	return errs
}

// checkMetricNames: a metric an autoscaler reads must be one the scheduler
// exports. The scheduler needs Redis and keys to serve /metrics, so look for
// the name in the binary's string constants instead.
func (c *checker) checkMetricNames(d doc) {
	var names []string
	switch d.Kind {
	case "HorizontalPodAutoscaler":
		for _, m := range getList(d.Body, "spec", "metrics") {
			if n := getStr(m, "external", "metric", "name"); n != "" {
				names = append(names, n)
			}
		}
	case "ScaledObject":
		for _, t := range getList(d.Body, "spec", "triggers") {
			q := getStr(t, "metadata", "query")
			names = append(names, metricInQueryRE.FindAllString(q, -1)...)
		}
	default:
		return
	}
	if len(names) == 0 {
		c.fail("%s %s reads no metric", d.Kind, d.Name)
	}
	bin, err := os.ReadFile(filepath.Join(c.binDir, "verity-scheduler"))
	if err != nil {
		c.fail("%s %s: cannot read verity-scheduler: %v", d.Kind, d.Name, err)
		return
	}
	for _, n := range names {
		if !bytes.Contains(bin, []byte(n+"\x00")) { // a C string constant
			c.fail("%s %s: verity-scheduler exports no metric %s", d.Kind, d.Name, n)
		}
	}
}

var metricInQueryRE = regexp.MustCompile(`verity_[a-z0-9_]+`)

// flagName is the option name in "--flag", "--flag=value" or a flag quoted
// in prose ("`--flag`,").
func flagName(tok string) string {
	return strings.TrimRight(strings.SplitN(tok[2:], "=", 2)[0], "`'\".,;:)")
}
