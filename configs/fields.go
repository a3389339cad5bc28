package configs

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// envPrefix starts every environment override.
const envPrefix = "GATEWAY_"

// KeyError is a problem with one configuration key. Source says where the bad
// value came from ("env GATEWAY_X", "gateway.yaml line 3") and is empty for
// validation errors.
type KeyError struct {
	Key    string
	Source string
	Err    error
}

func (e *KeyError) Error() string {
	if e.Source == "" {
		return "configs: " + e.Key + ": " + e.Err.Error()
	}
	return "configs: " + e.Key + " (" + e.Source + "): " + e.Err.Error()
}

func (e *KeyError) Unwrap() error { return e.Err }

// field is one leaf key of Config, found by walking the yaml tags.
type field struct {
	key    string // dotted yaml path
	env    string // GATEWAY_…
	index  []int  // reflect.Value.FieldByIndex path from Config
	typ    reflect.Type
	secret bool
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	stringsType  = reflect.TypeFor[[]string]()
	mapType      = reflect.TypeFor[map[string]string]()
)

// allFields is computed once from the Config type.
var allFields = sync.OnceValue(func() []field {
	var out []field
	walkFields(reflect.TypeFor[Config](), "", nil, &out)
	return out
})

// fieldsByEnv indexes allFields by environment name.
var fieldsByEnv = sync.OnceValue(func() map[string]field {
	m := make(map[string]field)
	for _, f := range allFields() {
		m[f.env] = f
	}
	return m
})

// yamlName returns the key of a struct field, or "" if it has none.
func yamlName(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	if name == "-" || !sf.IsExported() {
		return ""
	}
	return name
}

func walkFields(t reflect.Type, prefix string, index []int, out *[]field) {
	for i := range t.NumField() {
		sf := t.Field(i)
		name := yamlName(sf)
		if name == "" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		idx := append(slices.Clone(index), i)
		if sf.Type.Kind() == reflect.Struct {
			walkFields(sf.Type, key, idx, out)
			continue
		}
		*out = append(*out, field{
			key:    key,
			env:    EnvName(key),
			index:  idx,
			typ:    sf.Type,
			secret: sf.Tag.Get("secret") == "true",
		})
	}
}

// EnvName returns the environment variable that overrides a dotted key:
// GATEWAY_ + the key in upper snake case. It does not check that the key exists.
func EnvName(dottedKey string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(dottedKey, ".", "_"))
}

// Keys returns every dotted configuration key in declaration order.
func Keys() []string {
	fs := allFields()
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.key
	}
	return out
}

// UnknownEnv returns the GATEWAY_* variables in environ that match no key,
// sorted. Load ignores them (other tools may share the prefix); the caller
// should log them, since they are usually typos.
func UnknownEnv(environ []string) []string {
	known := fieldsByEnv()
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := known[name]; strings.HasPrefix(name, envPrefix) && !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// applyEnv sets every key whose variable is present in environ. A later
// duplicate wins. An empty value is applied as such: it clears a string, list
// or map and is an error for a number, bool or duration.
func applyEnv(c *Config, environ []string) error {
	byEnv := fieldsByEnv()
	root := reflect.ValueOf(c).Elem()
	for _, kv := range environ {
		name, value, hasValue := strings.Cut(kv, "=")
		f, isKey := byEnv[name]
		if !hasValue || !isKey {
			continue
		}
		v, err := parseValue(f.typ, value)
		if err != nil {
			return &KeyError{Key: f.key, Source: "env " + f.env, Err: err}
		}
		root.FieldByIndex(f.index).Set(v)
	}
	return nil
}

// parseValue parses the string form of a value of type t: the environment
// syntax, also accepted for YAML scalars.
func parseValue(t reflect.Type, s string) (reflect.Value, error) {
	switch {
	case t == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return reflect.Value{}, fmt.Errorf("not a duration such as 90s or 3m: %w", err)
		}
		return reflect.ValueOf(d), nil
	case t == stringsType:
		return reflect.ValueOf(splitList(s)), nil
	case t == mapType:
		m, err := parseMap(s)
		if err != nil {
			return reflect.Value{}, err
		}
		return reflect.ValueOf(m), nil
	}
	v := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return reflect.Value{}, fmt.Errorf("not a bool (true or false): %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return reflect.Value{}, fmt.Errorf("not an integer: %q", s)
		}
		v.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return reflect.Value{}, fmt.Errorf("not a number: %q", s)
		}
		v.SetFloat(x)
	default:
		// Unreachable for Config; TestKeysHaveSupportedTypes guards it.
		return reflect.Value{}, fmt.Errorf("unsupported type %s", t)
	}
	return v, nil
}

// splitList parses "a,b": items are trimmed, empty items dropped, and an
// empty list is nil.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// errMapSyntax is wrapped by every malformed map value.
var errMapSyntax = errors.New("want k1:v1,k2:v2")

// parseMap parses "k1:v1,k2:v2". The value is everything after the first
// colon, so it may itself contain colons; an empty string is a nil map.
func parseMap(s string) (map[string]string, error) {
	var m map[string]string
	n := 0
	for item := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		n++
		k, v, ok := strings.Cut(item, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			// The entry is not echoed: map values may be secrets.
			return nil, fmt.Errorf("entry %d: %w", n, errMapSyntax)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("duplicate map key %q", k)
		}
		if m == nil {
			m = make(map[string]string)
		}
		m[k] = v
	}
	return m, nil
}
