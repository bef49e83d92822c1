package main

import (
	"encoding"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// configDoc is the configuration reference, relative to this package.
const configDoc = "../../docs/configuration.md"

// configKeys returns the dotted path of every key of the configuration file,
// walking t by reflection and yaml tags: a struct's fields are its keys, a
// list adds "[]" before the keys of its elements, a map adds ".*", a pointer
// is followed. A type that decodes itself (a duration) is one key.
func configKeys(t reflect.Type, prefix string, keys []string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if decodesItself(t) {
		return keys
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return configKeys(t.Elem(), prefix+"[]", keys)
	case reflect.Map:
		return configKeys(t.Elem(), prefix+".*", keys)
	case reflect.Struct:
	default:
		return keys
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			keys = configKeys(f.Type, prefix, keys)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default key
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		keys = append(keys, path)
		keys = configKeys(f.Type, path, keys)
	}
	return keys
}

// decodesItself reports whether t (or *t) unmarshals itself from YAML, so
// that its fields, if any, are not keys of the file.
func decodesItself(t reflect.Type) bool {
	for _, iface := range []reflect.Type{
		reflect.TypeFor[yaml.Unmarshaler](),
		reflect.TypeFor[encoding.TextUnmarshaler](),
	} {
		if t.Implements(iface) || reflect.PointerTo(t).Implements(iface) {
			return true
		}
	}
	return false
}

var codeSpan = regexp.MustCompile("`([^`\n]+)`")

// TestConfigDocCoversEveryKey fails for every key of the configuration file
// that docs/configuration.md does not name in backticks, and for every
// table row of that document whose first cell names a key that does not
// exist.
func TestConfigDocCoversEveryKey(t *testing.T) {
	doc, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatalf("reading the configuration reference: %v", err)
	}
	mentioned := map[string]bool{}
	for _, m := range codeSpan.FindAllStringSubmatch(string(doc), -1) {
		mentioned[m[1]] = true
	}
	keys := configKeys(reflect.TypeOf(config{}), "", nil)
	if len(keys) < 10 {
		t.Fatalf("found %d configuration keys (%v); the walk of config{} is broken", len(keys), keys)
	}
	var missing []string
	for _, k := range keys {
		if !mentioned[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("docs/configuration.md does not mention %d configuration keys (write each in backticks, e.g. `%s`):\n%s",
			len(missing), missing[0], strings.Join(missing, "\n"))
	}

	var stale []string
	for _, line := range strings.Split(string(doc), "\n") {
		first, ok := strings.CutPrefix(line, "| `")
		if !ok {
			continue
		}
		key, _, _ := strings.Cut(first, "`")
		if !slices.Contains(keys, key) {
			stale = append(stale, key)
		}
	}
	if len(stale) > 0 {
		t.Errorf("docs/configuration.md describes keys the configuration does not have:\n%s", strings.Join(stale, "\n"))
	}
}

// TestConfigDocWalk checks the walk itself on a type of its own.
func TestConfigDocWalk(t *testing.T) {
	type leaf struct {
		A string `yaml:"a"`
	}
	type inline struct {
		I int `yaml:"i"`
	}
	type root struct {
		Name    string          `yaml:"name,omitempty"`
		Skip    string          `yaml:"-"`
		Plain   int             // no tag: yaml.v3 lowercases the name
		Inline  inline          `yaml:",inline"`
		List    []leaf          `yaml:"list"`
		Ptr     *leaf           `yaml:"ptr"`
		Map     map[string]leaf `yaml:"map"`
		Strings []string        `yaml:"strings"`
		D       duration        `yaml:"d"`
		hidden  string
	}
	_ = root{}.hidden
	got := configKeys(reflect.TypeOf(root{}), "", nil)
	want := []string{"name", "plain", "i", "list", "list[].a", "ptr", "ptr.a", "map", "map.*.a", "strings", "d"}
	if !slices.Equal(got, want) {
		t.Errorf("configKeys = %q, want %q", got, want)
	}
}
