package main

// Reading the YAML tree into the config types, with errors an operator can
// act on. yaml.v3 alone stops at its first failing custom type, reports
// unknown keys with Go type names ("field password not found in type
// main.accountDef") and type errors in its own terms ("cannot unmarshal
// !!str `four` into int"). So the tree is walked against the types first:
// every unknown key (with a "did you mean"), every value of the wrong shape
// or type is reported at its line and path, and the bad value is replaced
// by null, so the rest of the file still decodes and can be checked. A file
// the walk finds nothing wrong with is decoded strictly, exactly as before.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds the walk: aliases can make a small file a huge tree.
const maxNodes = 1 << 18

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	durationType    = reflect.TypeFor[duration]()
)

// decode fills cfg from the tree, reporting every part that does not fit.
func (v *validator) decode(cfg *config, data []byte) {
	if v.root.Kind == 0 { // an empty file, or only comments
		return
	}
	v.budget = maxNodes
	v.walk(v.root, reflect.TypeFor[config](), nil)
	if len(v.errs) > 0 {
		// Best effort, for the checks: the bad parts are null now.
		_ = v.root.Decode(cfg)
		return
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		// The walk should have caught it; say what yaml.v3 says.
		v.yamlErrors(err)
	}
}

// yamlErrors reports yaml.v3's "line 3: …" errors.
func (v *validator) yamlErrors(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	for _, m := range strings.Split(msg, "\n") {
		m = strings.TrimSpace(m)
		line := 0
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if n, after, ok := strings.Cut(rest, ": "); ok {
				if l, err := strconv.Atoi(n); err == nil {
					line, m = l, after
				}
			}
		}
		v.bad = append(v.bad, path{})
		v.errs = append(v.errs, &configError{file: v.file, line: line, msg: m})
	}
}

// walk checks n against type t at p.
func (v *validator) walk(n *yaml.Node, t reflect.Type, p path) {
	if v.budget--; v.budget < 0 {
		if v.budget == -1 {
			v.badAt(n, nil, "the file expands to more than %d values (anchors and aliases): simplify it", maxNodes)
		}
		return
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // the zero value, as yaml.v3 decodes it
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType), t.Kind() != reflect.Struct && t.Kind() != reflect.Slice:
		v.scalar(n, t, p)
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			v.notKeys(n, t, p)
			return
		}
		v.keys(n, t, p, map[string]int{})
	default:
		if n.Kind != yaml.SequenceNode {
			v.notList(n, t, p)
			return
		}
		for i, item := range n.Content {
			v.walk(item, t.Elem(), p.with(i))
		}
	}
}

// keys checks the keys of mapping n against struct t; seen holds the keys
// already set (nil in a merged mapping, whose keys the mapping may override).
//
// The pairs of bad keys are removed: yaml.v3 would not decode a mapping
// with a key set twice at all.
func (v *validator) keys(n *yaml.Node, t reflect.Type, p path, seen map[string]int) {
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			v.merge(val, t, p)
			kept = append(kept, k, val)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			v.keyError(k, p, p, "a key is a word and a colon (like %s:), not a list or a mapping", yamlKeys(t)[0])
			continue
		}
		f, ok := fieldOf(t, k.Value)
		if !ok {
			v.keyError(k, p, p.with(k.Value), "%s", unknownKey(k.Value, t, p))
			continue
		}
		if seen != nil {
			if first, dup := seen[k.Value]; dup {
				v.keyError(k, p.with(k.Value), p.with(k.Value), "set twice (first at line %d): keep one", first)
				continue
			}
			seen[k.Value] = k.Line
		}
		v.walk(val, f.Type, p.with(k.Value))
		kept = append(kept, k, val)
	}
	n.Content = kept
}

// merge checks the value of a "<<" key: a mapping or a list of them.
func (v *validator) merge(n *yaml.Node, t reflect.Type, p path) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for _, m := range items {
		for m.Kind == yaml.AliasNode && m.Alias != nil {
			m = m.Alias
		}
		if m.Kind != yaml.MappingNode {
			v.badAt(m, p, "<< merges a mapping (an alias like *defaults), not a single value or a list")
			continue
		}
		v.keys(m, t, p, nil)
	}
}

// scalar checks a single value, with yaml.v3's own rules for the type.
func (v *validator) scalar(n *yaml.Node, t reflect.Type, p path) {
	if n.Kind != yaml.ScalarNode {
		what := "a list"
		if n.Kind == yaml.MappingNode {
			what = "keys"
		}
		v.badAt(n, p, "a single value is wanted here%s, not %s", example(t), what)
		return
	}
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return
	}
	val := quoteValue(n.Value)
	if secretKey(p) {
		val = "the value"
	}
	switch {
	case t == durationType:
		v.badAt(n, p, "%v", err)
	case t.Kind() == reflect.Bool:
		v.badAt(n, p, "%s is not true or false", val)
	case t.Kind() == reflect.Int:
		v.badAt(n, p, "%s is not a whole number", val)
	case t.Kind() == reflect.Float64:
		v.badAt(n, p, "%s is not a number", val)
	default:
		v.badAt(n, p, "%s cannot be read as text: quote it", val)
	}
}

// notKeys: a single value or a list where the keys of a section belong.
func (v *validator) notKeys(n *yaml.Node, t reflect.Type, p path) {
	what := "a single value"
	if n.Kind == yaml.SequenceNode {
		what = "a list"
	}
	where := "keys are wanted here"
	if len(p) == 0 {
		where = "the file holds keys"
	}
	v.badAt(n, p, "%s (like %s: …), not %s", where, yamlKeys(t)[0], what)
}

// notList: a single value or keys where a list belongs.
func (v *validator) notList(n *yaml.Node, t reflect.Type, p path) {
	if t.Elem().Kind() == reflect.Struct {
		v.badAt(n, p, `a list is wanted here: start each entry with "- "`)
		return
	}
	if n.Kind == yaml.ScalarNode && !secretKey(p) && !strings.ContainsAny(n.Value, ",[]{}\"'\n") {
		v.badAt(n, p, "a list is wanted here: write [%s], or one \"- %s\" a line", n.Value, n.Value)
		return
	}
	v.badAt(n, p, "a list is wanted here, like [a, b], or one \"- a\" a line")
}

// example is how a value of t is written, for messages.
func example(t reflect.Type) string {
	switch {
	case t == durationType:
		return " (a duration like 30s)"
	case t.Kind() == reflect.Bool:
		return " (true or false)"
	case t.Kind() == reflect.Int, t.Kind() == reflect.Float64:
		return " (a number)"
	}
	return ""
}

// badAt reports msg at node n, path p, and marks p bad: the checks skip it.
func (v *validator) badAt(n *yaml.Node, p path, format string, args ...any) {
	v.bad = append(v.bad, p)
	v.report(n.Line, p, fmt.Sprintf(format, args...))
	n.Kind, n.Tag, n.Value, n.Content, n.Alias = yaml.ScalarNode, "!!null", "", nil, nil
}

// keyError reports msg at key k, path p, and marks bad bad: the checks skip
// it.
func (v *validator) keyError(k *yaml.Node, p, bad path, format string, args ...any) {
	v.bad = append(v.bad, bad)
	v.report(k.Line, p, fmt.Sprintf(format, args...))
}

// fieldOf is the field of struct t whose yaml key is key.
func fieldOf(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key && f.IsExported() {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// yamlKeys are the keys of struct t, in order.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// secretWords are keys an operator may write a secret under.
var secretWords = []string{"password", "passwd", "pass", "secret", "api_key", "apikey", "key", "token"}

// secretKey reports whether the last key of p may hold a secret.
func secretKey(p path) bool {
	if len(p) == 0 {
		return false
	}
	k, _ := p[len(p)-1].(string)
	k = strings.ToLower(k)
	return slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(k, w) })
}

// unknownKey says that key is not a key of t (at p), and what to write.
func unknownKey(key string, t reflect.Type, p path) string {
	msg := fmt.Sprintf("unknown key %s", quoteValue(key))
	known := yamlKeys(t)
	lower := strings.ToLower(key)
	if slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(lower, w) }) {
		if hint := secretHint(lower, known); hint != "" {
			return msg + "; " + hint
		}
	}
	if k, ok := closest(lower, known); ok {
		return msg + fmt.Sprintf("; did you mean %q?", k)
	}
	for _, k := range known {
		if strings.HasPrefix(k, lower+"_") {
			return msg + fmt.Sprintf("; did you mean %q?", k)
		}
	}
	if where := sectionsWith(reflect.TypeFor[config](), key, nil); len(where) > 0 && len(where) <= 3 && !slices.Contains(where, typePath(p)) {
		return msg + fmt.Sprintf(" here: it is a key of %s (check the indentation)", strings.Join(where, ", "))
	}
	where := "here"
	if len(p) == 0 {
		where = "at the top level"
	}
	return msg + fmt.Sprintf(" (keys %s: %s)", where, strings.Join(known, ", "))
}

// secretHint: secrets come from the environment or a file, never from the
// configuration file; say from which keys.
func secretHint(key string, known []string) string {
	var file, env, what string
	for _, k := range known {
		stem, isFile := strings.CutSuffix(k, "_file")
		if !isFile {
			stem, _ = strings.CutSuffix(k, "_env")
		}
		if stem == k || !(stem == key || strings.HasSuffix(stem, "_"+key) || strings.HasSuffix(key, stem)) {
			continue
		}
		what = strings.ReplaceAll(stem, "_", " ")
		if isFile {
			file = k
		} else {
			env = k
		}
	}
	switch {
	case file != "" && env != "":
		return fmt.Sprintf("write the %s in a file or the environment: %s or %s", what, file, env)
	case file != "":
		return fmt.Sprintf("write the %s in a file: %s", what, file)
	case env != "":
		return fmt.Sprintf("write the %s in the environment: %s", what, env)
	case slices.Contains(known, "password_hash"):
		return "an agent has a password_hash, never the password: " + hashHowTo
	}
	return ""
}

// closest is the known key nearest to key, if it is a likely typo.
func closest(key string, known []string) (string, bool) {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(key, k); d < bestD && d < len(key) {
			best, bestD = k, d
		}
	}
	return best, best != ""
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of neighbours.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// sectionsWith lists the sections of t (as typePath writes them) that have
// key.
func sectionsWith(t reflect.Type, key string, at []string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == durationType {
		return nil
	}
	var out []string
	if _, ok := fieldOf(t, key); ok {
		out = append(out, sectionName(at))
	}
	for _, k := range yamlKeys(t) {
		f, _ := fieldOf(t, k)
		out = append(out, sectionsWith(f.Type, key, append(slices.Clip(at), k))...)
	}
	return out
}

// typePath is p without its list indices: agents[1].rights is agents.rights.
func typePath(p path) string {
	var keys []string
	for _, e := range p {
		if k, ok := e.(string); ok {
			keys = append(keys, k)
		}
	}
	return sectionName(keys)
}

func sectionName(keys []string) string {
	if len(keys) == 0 {
		return "the top level"
	}
	return strings.Join(keys, ".")
}

// quoteValue quotes a value of the file for a message, cut to a length
// that fits a line.
func quoteValue(s string) string {
	const max = 40
	if r := []rune(s); len(r) > max {
		return strconv.Quote(string(r[:max])) + "…"
	}
	return strconv.Quote(s)
}
