package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrUnknownKey is wrapped (in a *KeyError) when the file has a key that the
// configuration does not know, usually a typo.
var ErrUnknownKey = errors.New("unknown key")

// Load builds the configuration: Default, then the YAML file at path (if path
// is not empty), then the GATEWAY_* variables of environ (in os.Environ form),
// then Validate. It returns the first problem of the file or environment, or
// every validation problem joined; each names its key (see KeyError).
//
// In the file, a key with an empty (null) value keeps its default; lists and
// maps may be written in YAML or in their environment syntax ("a,b",
// "k1:v1,k2:v2"). Unknown GATEWAY_* variables are ignored; see UnknownEnv.
func Load(path string, environ []string) (*Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("configs: %w", err)
		}
		if err := decodeYAML(c, data, path); err != nil {
			return nil, err
		}
	}
	if err := applyEnv(c, environ); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeYAML applies one YAML document onto c. It walks the node tree itself,
// rather than using yaml.Unmarshal, so that every error carries the dotted key
// and line, and scalars use the same syntax as the environment.
func decodeYAML(c *Config, data []byte, name string) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: defaults
		}
		return fmt.Errorf("configs: %s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("configs: %s: want exactly one YAML document", name)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := resolve(doc.Content[0])
	if isNull(root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("configs: %s line %d: the top level must be a mapping of keys", name, root.Line)
	}
	d := yamlDecoder{name: name}
	return d.structure(root, reflect.ValueOf(c).Elem(), "")
}

type yamlDecoder struct{ name string }

func (d yamlDecoder) errAt(n *yaml.Node, key string, err error) error {
	return &KeyError{Key: key, Source: fmt.Sprintf("%s line %d", d.name, n.Line), Err: err}
}

// resolve follows aliases (*anchor) to the anchored node.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// structure decodes a mapping node onto the struct v whose key is prefix.
func (d yamlDecoder) structure(n *yaml.Node, v reflect.Value, prefix string) error {
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), resolve(n.Content[i+1])
		if kn.Kind != yaml.ScalarNode {
			where := prefix
			if where == "" {
				where = "(top level)"
			}
			return d.errAt(kn, where, errors.New("a key must be a plain name"))
		}
		key := kn.Value
		if prefix != "" {
			key = prefix + "." + kn.Value
		}
		if seen[kn.Value] {
			return d.errAt(kn, key, errors.New("duplicate key"))
		}
		seen[kn.Value] = true
		sf, ok := fieldByName(v.Type(), kn.Value)
		if !ok {
			return d.errAt(kn, key, ErrUnknownKey)
		}
		fv := v.FieldByIndex(sf.Index)
		if isNull(vn) {
			continue // "key:" with no value keeps the default
		}
		var err error
		if sf.Type.Kind() == reflect.Struct {
			if vn.Kind != yaml.MappingNode {
				return d.errAt(vn, key, errors.New("want a mapping of keys"))
			}
			err = d.structure(vn, fv, key)
		} else {
			err = d.leaf(vn, fv, key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fieldByName finds the struct field whose yaml key is name.
func fieldByName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if sf := t.Field(i); yamlName(sf) == name {
			return sf, true
		}
	}
	return reflect.StructField{}, false
}

// leaf decodes a non-null node onto the leaf value v.
func (d yamlDecoder) leaf(n *yaml.Node, v reflect.Value, key string) error {
	t := v.Type()
	switch {
	case t == stringsType && n.Kind == yaml.SequenceNode:
		var list []string
		for _, item := range n.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode {
				return d.errAt(item, key, errors.New("want a list of strings"))
			}
			if s := strings.TrimSpace(item.Value); s != "" {
				list = append(list, s)
			}
		}
		v.Set(reflect.ValueOf(list))
		return nil
	case t == mapType && n.Kind == yaml.MappingNode:
		var m map[string]string
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := resolve(n.Content[i]), resolve(n.Content[i+1])
			if kn.Kind != yaml.ScalarNode || kn.Value == "" || vn.Kind != yaml.ScalarNode {
				return d.errAt(kn, key, errors.New("want a mapping of strings to strings"))
			}
			if _, dup := m[kn.Value]; dup {
				return d.errAt(kn, key, fmt.Errorf("duplicate map key %q", kn.Value))
			}
			if m == nil {
				m = make(map[string]string)
			}
			m[kn.Value] = vn.Value
			if isNull(vn) {
				m[kn.Value] = ""
			}
		}
		v.Set(reflect.ValueOf(m))
		return nil
	case n.Kind != yaml.ScalarNode:
		return d.errAt(n, key, errors.New("want a single value"))
	}
	pv, err := parseValue(t, n.Value)
	if err != nil {
		return d.errAt(n, key, err)
	}
	v.Set(pv)
	return nil
}
