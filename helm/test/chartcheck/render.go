package main

// A `helm template` stand-in: same template language (text/template +
// sprig + helm's own functions), same top-level objects, same handling of
// partials, NOTES.txt, schema validation and manifest ordering. Helm itself
// cannot be installed in CI; this lets the chart be rendered and checked.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"github.com/xeipuuv/gojsonschema"
	yamlv2 "gopkg.in/yaml.v2"
)

// ChartMeta mirrors the fields of helm's chart.Metadata that templates see
// as .Chart.<Field>.
type ChartMeta struct {
	APIVersion   string            `yaml:"apiVersion"`
	Name         string            `yaml:"name"`
	Version      string            `yaml:"version"`
	AppVersion   string            `yaml:"appVersion"`
	Description  string            `yaml:"description"`
	Type         string            `yaml:"type"`
	KubeVersion  string            `yaml:"kubeVersion"`
	Home         string            `yaml:"home"`
	Icon         string            `yaml:"icon"`
	Keywords     []string          `yaml:"keywords"`
	Sources      []string          `yaml:"sources"`
	Annotations  map[string]string `yaml:"annotations"`
	Deprecated   bool              `yaml:"deprecated"`
	Maintainers  []interface{}     `yaml:"maintainers"`
	Dependencies []interface{}     `yaml:"dependencies"`
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

func (k KubeVersion) String() string { return k.Version }

// APIVersions is .Capabilities.APIVersions.
type APIVersions []string

// Has reports whether a "group/version" or "group/version/Kind" is known.
// Helm lists built-in kinds too; here a Kind of a known built-in
// group/version counts as known (CRD kinds come in with -a).
func (a APIVersions) Has(v string) bool {
	gv := v
	if parts := strings.Split(v, "/"); len(parts) == 3 || (len(parts) == 2 && parts[0] == "v1") {
		gv = strings.Join(parts[:len(parts)-1], "/")
	}
	for _, x := range a {
		if x == v {
			return true
		}
		if x == gv && gv != v {
			for _, b := range defaultAPIVersions {
				if b == gv {
					return true
				}
			}
		}
	}
	return false
}

// Capabilities is .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions APIVersions
}

// Built-in API groups of the Kubernetes version helm template assumes, plus
// whatever -a/--api-versions adds (CRDs such as monitoring.coreos.com/v1).
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v1", "autoscaling/v2",
	"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1",
	"apiextensions.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
	"scheduling.k8s.io/v1", "admissionregistration.k8s.io/v1",
}

// Chart is a chart directory loaded from disk.
type Chart struct {
	Dir       string
	Meta      ChartMeta
	Defaults  map[string]interface{}
	Schema    []byte
	Templates map[string]string // "name/templates/x.yaml" -> text
	Files     map[string][]byte // non-template files, for .Files
}

func loadChart(dir string) (*Chart, error) {
	c := &Chart{Dir: dir, Templates: map[string]string{}, Files: map[string][]byte{}}
	meta, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yamlv2.UnmarshalStrict(meta, &c.Meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	if c.Meta.Name == "" || c.Meta.Version == "" || c.Meta.APIVersion != "v2" {
		return nil, fmt.Errorf("Chart.yaml: apiVersion v2, name and version are required")
	}
	if _, err := semver.NewVersion(c.Meta.Version); err != nil {
		return nil, fmt.Errorf("Chart.yaml: version %q is not SemVer 2", c.Meta.Version)
	}
	if c.Defaults, err = readValuesFile(filepath.Join(dir, "values.yaml")); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "values.schema.json")); err == nil {
		c.Schema = b
	}
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if info.IsDir() {
			if rel == "charts" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			c.Templates[c.Meta.Name+"/"+rel] = string(b)
		} else {
			c.Files[rel] = b
		}
		return nil
	})
	return c, err
}

// RenderOptions are the `helm template` flags the tests use.
type RenderOptions struct {
	ReleaseName string
	Namespace   string
	KubeVersion string
	APIVersions []string
	ValueFiles  []string
	Sets        []string
	SetStrings  []string
	// Cluster is what `lookup` finds: objects of a pretend live cluster
	// (helm template has none; tests use it to render an upgrade).
	Cluster []map[string]interface{}
}

// Rendered is the result: manifests in helm's order, plus NOTES.txt.
type Rendered struct {
	Manifests []Manifest
	Notes     string
	Values    map[string]interface{}
}

// Manifest is one YAML document and the template it came from.
type Manifest struct {
	Source string
	Body   string
	Kind   string
	Hook   bool
}

// userValues merges -f files then --set/--set-string, in helm's order.
func userValues(o RenderOptions) (map[string]interface{}, error) {
	base := map[string]interface{}{}
	for _, f := range o.ValueFiles {
		m, err := readValuesFile(f)
		if err != nil {
			return nil, err
		}
		base = mergeMaps(base, m)
	}
	for _, s := range o.Sets {
		if err := applySet(base, s, false); err != nil {
			return nil, fmt.Errorf("failed parsing --set data: %v", err)
		}
	}
	for _, s := range o.SetStrings {
		if err := applySet(base, s, true); err != nil {
			return nil, fmt.Errorf("failed parsing --set-string data: %v", err)
		}
	}
	return base, nil
}

func validateSchema(c *Chart, vals map[string]interface{}) error {
	if c.Schema == nil {
		return nil
	}
	doc, err := toJSONCompatible(vals)
	if err != nil {
		return err
	}
	res, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(c.Schema), gojsonschema.NewGoLoader(doc))
	if err != nil {
		return fmt.Errorf("values.schema.json: %v", err)
	}
	if res.Valid() {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n", c.Meta.Name)
	for _, e := range res.Errors() {
		fmt.Fprintf(&b, "- %s\n", e)
	}
	return fmt.Errorf("%s", b.String())
}

func capabilities(o RenderOptions) (Capabilities, error) {
	kv := o.KubeVersion
	if kv == "" {
		kv = "v1.29.0"
	}
	v, err := semver.NewVersion(kv)
	if err != nil {
		return Capabilities{}, fmt.Errorf("invalid kube version %q", kv)
	}
	apis := append(APIVersions{}, defaultAPIVersions...)
	apis = append(apis, o.APIVersions...)
	return Capabilities{
		KubeVersion: KubeVersion{
			Version:    "v" + v.String(),
			Major:      fmt.Sprint(v.Major()),
			Minor:      fmt.Sprint(v.Minor()),
			GitVersion: "v" + v.String(),
		},
		APIVersions: apis,
	}, nil
}

// render does what `helm template` does for one chart without subcharts.
func render(c *Chart, o RenderOptions) (*Rendered, error) {
	user, err := userValues(o)
	if err != nil {
		return nil, err
	}
	vals := coalesce(c.Defaults, user)
	if err := validateSchema(c, vals); err != nil {
		return nil, err
	}
	caps, err := capabilities(o)
	if err != nil {
		return nil, err
	}
	if c.Meta.KubeVersion != "" {
		cons, err := semver.NewConstraint(c.Meta.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("Chart.yaml kubeVersion: %v", err)
		}
		kv, _ := semver.NewVersion(caps.KubeVersion.Version)
		if !cons.Check(kv) {
			return nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c.Meta.KubeVersion, caps.KubeVersion.Version)
		}
	}
	name := o.ReleaseName
	if name == "" {
		name = "release-name"
	}
	ns := o.Namespace
	if ns == "" {
		ns = "default"
	}
	top := map[string]interface{}{
		"Values": vals,
		"Release": map[string]interface{}{
			"Name": name, "Namespace": ns, "Revision": 1,
			"IsUpgrade": false, "IsInstall": true, "Service": "Helm",
		},
		"Chart":        c.Meta,
		"Capabilities": caps,
		"Files":        Files(c.Files),
	}
	out, err := executeAll(c, top, o.Cluster)
	if err != nil {
		return nil, err
	}
	r := &Rendered{Values: vals}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, "/templates/NOTES.txt") {
			r.Notes = out[n]
			continue
		}
		for _, doc := range splitManifests(out[n]) {
			m := Manifest{Source: n, Body: doc}
			var head struct {
				Kind     string `yaml:"kind"`
				Metadata struct {
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"metadata"`
			}
			if err := yamlv2.Unmarshal([]byte(doc), &head); err != nil {
				return nil, fmt.Errorf("YAML parse error on %s: %v", n, err)
			}
			m.Kind = head.Kind
			_, m.Hook = head.Metadata.Annotations["helm.sh/hook"]
			r.Manifests = append(r.Manifests, m)
		}
	}
	sortManifests(r.Manifests)
	return r, nil
}

var sepRE = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// splitManifests splits a rendered file on "---" lines and drops empty
// documents, as helm's releaseutil.SplitManifests does.
func splitManifests(s string) []string {
	var out []string
	for _, d := range sepRE.Split(s, -1) {
		if strings.TrimSpace(d) == "" {
			continue
		}
		out = append(out, strings.TrimSpace(d))
	}
	return out
}

// helm's InstallOrder; unknown kinds go last. Hooks print after manifests.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret",
	"SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
	"PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
	"RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
	"ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
	"StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
}

func sortManifests(ms []Manifest) {
	rank := func(m Manifest) int {
		for i, k := range installOrder {
			if k == m.Kind {
				return i
			}
		}
		return len(installOrder)
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].Hook != ms[j].Hook {
			return !ms[i].Hook
		}
		return rank(ms[i]) < rank(ms[j])
	})
}

func (r *Rendered) String() string {
	var b strings.Builder
	for _, m := range r.Manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Source, m.Body)
	}
	return b.String()
}

// executeAll parses every template into one set and executes the ones that
// are not partials (basename starting with "_").
func executeAll(c *Chart, top map[string]interface{}, cluster []map[string]interface{}) (map[string]string, error) {
	t := template.New("gotpl")
	// helm (non-strict): missing map keys are the zero value and the
	// "<no value>" text it prints is removed afterwards.
	t.Option("missingkey=zero")
	t.Funcs(helmFuncs(t, cluster))
	names := make([]string, 0, len(c.Templates))
	for n := range c.Templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := t.New(n).Parse(c.Templates[n]); err != nil {
			return nil, fmt.Errorf("parse error: %v", err)
		}
	}
	out := map[string]string{}
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			continue
		}
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": n, "BasePath": c.Meta.Name + "/templates"}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, n, data); err != nil {
			return nil, cleanExecError(err)
		}
		out[n] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}

var execErrRE = regexp.MustCompile(`^template: (\S+?): executing "[^"]*" at <[^>]*>: error calling \w+: (?s)(.*)$`)

// cleanExecError rewrites Go's template error the way helm prints it:
// "execution error at (file:line:col): message".
func cleanExecError(err error) error {
	msg := err.Error()
	// The innermost template error carries the location and message.
	for strings.Contains(msg, "error calling include: ") {
		i := strings.LastIndex(msg, "error calling include: ")
		msg = msg[i+len("error calling include: "):]
	}
	if m := execErrRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("execution error at (%s): %s", m[1], m[2])
	}
	return err
}

// Files is .Files: the chart's non-template files.
type Files map[string][]byte

// Get returns a file's content as a string ("" when absent).
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes returns a file's content.
func (f Files) GetBytes(name string) []byte { return f[name] }

// Glob returns the files matching a path.Match pattern.
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for n, b := range f {
		if ok, _ := path.Match(pattern, n); ok {
			out[n] = b
		}
	}
	return out
}

// Lines splits a file into lines.
func (f Files) Lines(name string) []string {
	s := strings.TrimSuffix(string(f[name]), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// AsConfig renders the files as a ConfigMap data block.
func (f Files) AsConfig() string {
	m := map[string]string{}
	for n, b := range f {
		m[path.Base(n)] = string(b)
	}
	return toYAML(m)
}

// AsSecrets renders the files base64-encoded as a Secret data block.
func (f Files) AsSecrets() string {
	m := map[string][]byte{}
	for n, b := range f {
		m[path.Base(n)] = b
	}
	return toYAML(m)
}

// ---- helm's own template functions ----

const maxIncludeDepth = 1000

func helmFuncs(t *template.Template, cluster []map[string]interface{}) template.FuncMap {
	f := sprig.TxtFuncMap()
	// helm removes these: a chart must not read the renderer's environment.
	delete(f, "env")
	delete(f, "expandenv")
	depth := 0
	f["include"] = func(name string, data interface{}) (string, error) {
		if depth >= maxIncludeDepth {
			return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
		}
		depth++
		defer func() { depth-- }()
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		clone.Option("missingkey=zero")
		tt, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %v", text, err)
		}
		var buf bytes.Buffer
		if err := tt.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %v", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, fmt.Errorf("%s", msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	f["toYaml"] = func(v interface{}) string { return toYAML(v) }
	f["fromYaml"] = func(s string) map[string]interface{} {
		m, err := parseYAMLMap([]byte(s))
		if err != nil {
			return map[string]interface{}{"Error": err.Error()}
		}
		return m
	}
	f["fromYamlArray"] = func(s string) []interface{} {
		var raw interface{}
		if err := yamlv2.Unmarshal([]byte(s), &raw); err != nil {
			return []interface{}{err.Error()}
		}
		n, err := jsonShape(raw)
		if err != nil {
			return []interface{}{err.Error()}
		}
		a, _ := n.([]interface{})
		return a
	}
	f["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromJsonArray"] = func(s string) []interface{} {
		var a []interface{}
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			return []interface{}{err.Error()}
		}
		return a
	}
	// helm template has no cluster, so lookup finds nothing unless a test
	// supplies one. Like helm: one object by name, or {"items": [...]}.
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		var items []interface{}
		for _, o := range cluster {
			md, _ := o["metadata"].(map[string]interface{})
			if o["apiVersion"] != apiVersion || o["kind"] != kind || (namespace != "" && md["namespace"] != namespace) {
				continue
			}
			if name == "" {
				items = append(items, deepCopy(o))
			} else if md["name"] == name {
				return deepCopyMap(o), nil
			}
		}
		if name == "" && items != nil {
			return map[string]interface{}{"items": items}, nil
		}
		return map[string]interface{}{}, nil
	}
	return f
}

// toYAML is helm's toYaml: through JSON (sorted keys, JSON number rules),
// then YAML in yaml.v2 style, without the final newline.
func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var ms yamlv2.MapSlice
	var node interface{}
	if err := yamlv2.Unmarshal(j, &ms); err == nil && len(j) > 0 && j[0] == '{' {
		node = ms
	} else if err := yamlv2.Unmarshal(j, &node); err != nil {
		return ""
	}
	out, err := yamlv2.Marshal(node)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}
