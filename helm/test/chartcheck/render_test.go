package main

// The renderer must behave like `helm template` where the chart depends on
// it. Expected values below are helm 3's documented behaviour.

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSetTypeInference(t *testing.T) {
	m := map[string]interface{}{}
	arg := `a.b=1,c=true,d=null,e=0,f=012,g=1.5,h={x,2},esc=a\,b,dot\.ted=v,neg=-3,s=False`
	if err := applySet(m, arg, false); err != nil {
		t.Fatal(err)
	}
	want := map[string]interface{}{
		"a":       map[string]interface{}{"b": int64(1)},
		"c":       true,
		"d":       nil,
		"e":       int64(0),
		"f":       "012", // a leading zero keeps it a string
		"g":       "1.5", // helm --set does not infer floats
		"h":       []interface{}{"x", int64(2)},
		"esc":     "a,b",
		"dot.ted": "v",
		"neg":     int64(-3),
		"s":       false,
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %#v\nwant %#v", m, want)
	}
}

func TestSetListIndexes(t *testing.T) {
	m := map[string]interface{}{}
	for _, a := range []string{"l[1].name=b", "l[0].name=a", "l[1].port=80", "m[2]=z"} {
		if err := applySet(m, a, false); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]interface{}{
		"l": []interface{}{
			map[string]interface{}{"name": "a"},
			map[string]interface{}{"name": "b", "port": int64(80)},
		},
		"m": []interface{}{nil, nil, "z"},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %#v\nwant %#v", m, want)
	}
}

func TestSetStringAndErrors(t *testing.T) {
	m := map[string]interface{}{}
	if err := applySet(m, "a=1,b=true", true); err != nil {
		t.Fatal(err)
	}
	if m["a"] != "1" || m["b"] != "true" {
		t.Fatalf("--set-string inferred types: %#v", m)
	}
	for _, bad := range []string{"novalue", "a[x]=1", "a[70000]=1", "[0]=1", "a..b=1"} {
		if err := applySet(map[string]interface{}{}, bad, false); err == nil {
			t.Errorf("--set %q: accepted", bad)
		}
	}
}

func TestCoalesceAndMerge(t *testing.T) {
	defaults := map[string]interface{}{
		"a": map[string]interface{}{"b": 1.0, "c": 2.0},
		"l": []interface{}{1.0, 2.0},
		"k": "keep",
	}
	file1 := map[string]interface{}{"a": map[string]interface{}{"b": 10.0}, "l": []interface{}{9.0}}
	file2 := map[string]interface{}{"a": map[string]interface{}{"c": nil, "d": 3.0}}
	user := mergeMaps(file1, file2) // later -f wins, maps merge
	got := coalesce(defaults, user)
	want := map[string]interface{}{
		"a": map[string]interface{}{"b": 10.0, "d": 3.0}, // null deletes the default
		"l": []interface{}{9.0},                          // lists are replaced, not merged
		"k": "keep",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	if defaults["a"].(map[string]interface{})["c"] != 2.0 {
		t.Fatal("coalesce modified the chart defaults")
	}
}

func writeChart(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var miniChart = map[string]string{
	"Chart.yaml":         "apiVersion: v2\nname: mini\nversion: 1.2.3\nappVersion: \"9.9\"\nkubeVersion: \">=1.25.0-0\"\n",
	"values.yaml":        "name: x\nbig: 1000000\nnested:\n  list: [1, 2]\n  text: \"{{ .Values.name }}-tpl\"\nneed: \"\"\n",
	"values.schema.json": `{"type":"object","properties":{"name":{"type":"string","minLength":1}}}`,
	"files/hello.txt":    "hello file\n",
	"templates/_helpers.tpl": `{{- define "mini.label" -}}
app: {{ .Chart.Name }}-{{ .Release.Name }}
{{- end -}}`,
	"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cm
  labels:
    {{- include "mini.label" . | nindent 4 }}
data:
  big: {{ .Values.big | quote }}
  bigint: {{ int64 .Values.big | quote }}
  missing: "{{ .Values.nothere }}"
  tpl: {{ tpl .Values.nested.text . | quote }}
  list: {{ toYaml .Values.nested.list | quote }}
  fromyaml: {{ (fromYaml "a: b").a | quote }}
  apps: {{ .Capabilities.APIVersions.Has "apps/v1" | quote }}
  crd: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
  kube: {{ .Capabilities.KubeVersion.Minor | quote }}
  file: {{ .Files.Get "files/hello.txt" | trim | quote }}
  chart: {{ printf "%s-%s-%s" .Chart.Name .Chart.Version .Chart.AppVersion | quote }}
---

`,
	"templates/NOTES.txt": "release {{ .Release.Name }} in {{ .Release.Namespace }}\n",
	"templates/req.yaml":  `{{- if .Values.need }}{{ required "need must be set" .Values.need }}{{ end }}`,
}

func TestRenderLikeHelm(t *testing.T) {
	c, err := loadChart(writeChart(t, miniChart))
	if err != nil {
		t.Fatal(err)
	}
	r, err := render(c, RenderOptions{ReleaseName: "rel", Namespace: "ns", KubeVersion: "v1.28.3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Manifests) != 1 {
		t.Fatalf("want 1 manifest (partials, NOTES and empty documents are not manifests), got %d:\n%s", len(r.Manifests), r)
	}
	out := r.Manifests[0].Body
	for _, want := range []string{
		"name: rel-cm",
		"app: mini-rel",
		`big: "1e+06"`, // values numbers are float64, as in helm
		`bigint: "1000000"`,
		`missing: ""`, // helm drops "<no value>"
		`tpl: "x-tpl"`,
		`list: "- 1\n- 2"`,
		`fromyaml: "b"`,
		`apps: "true"`,
		`crd: "false"`,
		`kube: "28"`,
		`file: "hello file"`,
		`chart: "mini-1.2.3-9.9"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered ConfigMap lacks %q:\n%s", want, out)
		}
	}
	if r.Notes != "release rel in ns\n" {
		t.Errorf("NOTES: %q", r.Notes)
	}
	if r.Manifests[0].Source != "mini/templates/cm.yaml" {
		t.Errorf("source %q", r.Manifests[0].Source)
	}
}

func TestRenderErrors(t *testing.T) {
	c, err := loadChart(writeChart(t, miniChart))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		o    RenderOptions
		want string
	}{
		{RenderOptions{Sets: []string{"name="}}, "values don't meet the specifications"},
		{RenderOptions{KubeVersion: "v1.20.0"}, "incompatible with Kubernetes v1.20.0"},
	}
	for _, tc := range cases {
		if _, err := render(c, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
	files := map[string]string{}
	for k, v := range miniChart {
		files[k] = v
	}
	files["templates/req.yaml"] = `{{ required "need must be set" .Values.need }}`
	c2, err := loadChart(writeChart(t, files))
	if err != nil {
		t.Fatal(err)
	}
	_, err = render(c2, RenderOptions{})
	if err == nil || !strings.Contains(err.Error(), "execution error at (mini/templates/req.yaml:1:3): need must be set") {
		t.Errorf("required: %v", err)
	}
}

func TestToYAMLIsHelmStyle(t *testing.T) {
	got := toYAML(map[string]interface{}{"b": []interface{}{"x"}, "a": map[string]interface{}{"port": 8080.0}})
	want := "a:\n  port: 8080\nb:\n- x"
	if got != want {
		t.Fatalf("toYaml: got %q want %q", got, want)
	}
}

func TestHelpParsing(t *testing.T) {
	text := "Usage: x [options]\nsummary\n\nOptions:\n" +
		"  --queue-max N  (VERITY_QUEUE_MAX, default 10000)  queued jobs\n" +
		"  --identity  (VERITY_IDENTITY, default off)  builtin\n" +
		"  --key FILE  (VERITY_KEY_FILE, required)  key\n" +
		"  --help  (-, no default)  show this help and exit\n"
	h, err := parseHelp("x", text)
	if err != nil {
		t.Fatal(err)
	}
	if h.Flags["queue-max"].Metavar != "N" || h.Flags["identity"].Metavar != "" || !h.Flags["key"].Required || h.Envs["VERITY_KEY_FILE"] != "key" {
		t.Fatalf("parsed %#v", h)
	}
	if _, err := parseHelp("x", "Options:\n  --broken line\n"); err == nil {
		t.Fatal("a line out of the vt_config.h format was accepted")
	}
}

func TestAPIVersionsHas(t *testing.T) {
	caps, err := capabilities(RenderOptions{APIVersions: []string{"monitoring.coreos.com/v1"}})
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{
		"apps/v1": true, "apps/v1/Deployment": true, "v1/Service": true, "v1": true,
		"policy/v1/PodDisruptionBudget": true, "monitoring.coreos.com/v1": true,
		"keda.sh/v1alpha1": false, "policy/v1beta1": false,
	} {
		if got := caps.APIVersions.Has(v); got != want {
			t.Errorf("Has(%q) = %v, want %v", v, got, want)
		}
	}
	if caps.KubeVersion.Version != "v1.29.0" || caps.KubeVersion.Minor != "29" {
		t.Errorf("default KubeVersion %+v", caps.KubeVersion)
	}
}
