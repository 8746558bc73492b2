package main

// Values: loading YAML the way helm does (through JSON, so every number from
// a file is a float64), merging -f files, applying --set/--set-string with
// helm's strvals syntax, and coalescing the result over the chart defaults.

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	yamlv3 "gopkg.in/yaml.v3"
)

// parseYAMLMap reads one YAML document into a JSON-shaped map.
// helm reads values through sigs.k8s.io/yaml (YAML -> JSON -> Go), so maps
// have string keys and numbers are float64; reproduce that here so a chart
// that prints a large integer badly (1e+06) fails here as it would in helm.
func parseYAMLMap(data []byte) (map[string]interface{}, error) {
	var raw interface{}
	if err := yamlv3.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	norm, err := jsonShape(raw)
	if err != nil {
		return nil, err
	}
	m, ok := norm.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("top level is a %T, not a map", norm)
	}
	return m, nil
}

// jsonShape converts a yaml.v3 decode result to what encoding/json would
// produce for the same document.
func jsonShape(v interface{}) (interface{}, error) {
	switch t := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, e := range t {
			n, err := jsonShape(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, e := range t {
			n, err := jsonShape(e)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = n
		}
		return out, nil
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, e := range t {
			n, err := jsonShape(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case int:
		return float64(t), nil
	case int64:
		return float64(t), nil
	case uint64:
		return float64(t), nil
	case float32:
		return float64(t), nil
	case time.Time:
		return t.Format(time.RFC3339), nil
	default:
		return v, nil
	}
}

func readValuesFile(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := parseYAMLMap(data)
	if err != nil {
		return nil, fmt.Errorf("failed to parse %s: %v", path, err)
	}
	return m, nil
}

// mergeMaps is helm's merge of successive -f files: maps merge key by key,
// anything else from b replaces a.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if om, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(om, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce lays user values over the chart defaults: user wins, maps merge
// deeply, and a user null deletes the default key (helm's coalesceValues).
func coalesce(defaults, user map[string]interface{}) map[string]interface{} {
	out := deepCopyMap(defaults)
	for k, uv := range user {
		if uv == nil {
			delete(out, k)
			continue
		}
		um, uok := uv.(map[string]interface{})
		dm, dok := out[k].(map[string]interface{})
		if uok && dok {
			out[k] = coalesce(dm, um)
			continue
		}
		if dok && !uok {
			// helm warns and keeps the table; an operator typo should not
			// silently replace a whole section.
			fmt.Fprintf(os.Stderr, "warning: cannot overwrite table with non table for %s (%v)\n", k, uv)
			continue
		}
		out[k] = deepCopy(uv)
	}
	return out
}

func deepCopy(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		return deepCopyMap(t)
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

func deepCopyMap(m map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

// ---- --set parsing (helm's strvals) ----

const maxSetIndex = 65536

// applySet parses one --set argument ("a.b=1,c[0].d=x") into dst.
// asString is --set-string: no type inference.
func applySet(dst map[string]interface{}, arg string, asString bool) error {
	for _, assign := range splitTop(arg, ',') {
		if assign == "" {
			continue
		}
		eq := indexUnescaped(assign, '=')
		if eq < 0 {
			return fmt.Errorf("key %q has no value", assign)
		}
		key, raw := assign[:eq], assign[eq+1:]
		var val interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") && !asString {
			var list []interface{}
			inner := raw[1 : len(raw)-1]
			if inner != "" {
				for _, item := range splitTop(inner, ',') {
					list = append(list, typedVal(unescape(item), false))
				}
			}
			if list == nil {
				list = []interface{}{}
			}
			val = list
		} else {
			val = typedVal(unescape(raw), asString)
		}
		path, err := parseSetPath(key)
		if err != nil {
			return err
		}
		if err := setPath(dst, path, val); err != nil {
			return fmt.Errorf("%s: %v", key, err)
		}
	}
	return nil
}

// typedVal is helm's inference: true/false, null, and integers without a
// leading zero; everything else (floats too) stays a string.
func typedVal(s string, asString bool) interface{} {
	if asString {
		return s
	}
	switch strings.ToLower(s) {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if s == "0" {
		return int64(0)
	}
	if len(s) > 0 && s[0] != '0' {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return s
}

// pathElem is one step of a --set key: a map key, or a list index.
type pathElem struct {
	key   string
	index int
	isIdx bool
}

func parseSetPath(key string) ([]pathElem, error) {
	var out []pathElem
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, pathElem{key: cur.String()})
			cur.Reset()
		}
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '\\' && i+1 < len(key):
			i++
			cur.WriteByte(key[i])
		case c == '.':
			if cur.Len() == 0 && (len(out) == 0 || !out[len(out)-1].isIdx) {
				return nil, fmt.Errorf("key %q has an empty part", key)
			}
			flush()
		case c == '[':
			flush()
			if len(out) == 0 {
				return nil, fmt.Errorf("key %q starts with an index", key)
			}
			end := strings.IndexByte(key[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("key %q has an unclosed [", key)
			}
			n, err := strconv.Atoi(key[i+1 : i+end])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("key %q has a bad index %q", key, key[i+1:i+end])
			}
			if n > maxSetIndex {
				return nil, fmt.Errorf("index of %d is greater than maximum supported index of %d", n, maxSetIndex)
			}
			out = append(out, pathElem{index: n, isIdx: true})
			i += end
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	if len(out) == 0 {
		return nil, fmt.Errorf("empty key")
	}
	return out, nil
}

func setPath(m map[string]interface{}, path []pathElem, val interface{}) error {
	var container interface{} = m
	return setIn(&container, path, val)
}

// setIn writes val at path below *slot, creating maps and growing lists
// (padding with nil, as helm does) along the way.
func setIn(slot *interface{}, path []pathElem, val interface{}) error {
	if len(path) == 0 {
		*slot = val
		return nil
	}
	e := path[0]
	if e.isIdx {
		list, _ := (*slot).([]interface{})
		for len(list) <= e.index {
			list = append(list, nil)
		}
		child := list[e.index]
		if err := setIn(&child, path[1:], val); err != nil {
			return err
		}
		list[e.index] = child
		*slot = list
		return nil
	}
	mp, ok := (*slot).(map[string]interface{})
	if !ok {
		mp = map[string]interface{}{}
	}
	if len(path) == 1 {
		mp[e.key] = val
		*slot = mp
		return nil
	}
	child := mp[e.key]
	if err := setIn(&child, path[1:], val); err != nil {
		return err
	}
	mp[e.key] = child
	*slot = mp
	return nil
}

// splitTop splits on sep outside {...} lists, honouring backslash escapes.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func indexUnescaped(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == c {
			return i
		}
	}
	return -1
}

func unescape(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sortedKeys is used wherever output order must be stable.
func sortedKeys(m map[string]interface{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// toJSONCompatible is used before schema validation: gojsonschema wants
// plain JSON types.
func toJSONCompatible(v interface{}) (interface{}, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out interface{}
	err = json.Unmarshal(b, &out)
	return out, err
}
