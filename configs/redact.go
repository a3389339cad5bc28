package configs

import (
	"maps"
	"reflect"
	"slices"
	"time"
)

// RedactedMask is the mask that replaces a secret's value in Redacted.
const RedactedMask = "[redacted]"

// Redacted returns the effective configuration as a flat map from dotted key
// to value, for logging (slog.Any("config", c.Redacted())). Durations are
// strings such as "3m0s". A secret (a field tagged `secret:"true"`) that is
// set shows as RedactedMask (for channels.app.keys, each app key keeps its name
// and its secret is masked); an unset secret stays empty, so the log shows
// what is missing. The map shares nothing with c.
func (c *Config) Redacted() map[string]any {
	root := reflect.ValueOf(c).Elem()
	out := make(map[string]any, len(allFields()))
	for _, f := range allFields() {
		v := root.FieldByIndex(f.index).Interface()
		switch x := v.(type) {
		case time.Duration:
			v = x.String()
		case []string:
			v = slices.Clone(x)
		case map[string]string:
			x = maps.Clone(x)
			if f.secret {
				for k := range x {
					x[k] = RedactedMask
				}
			}
			v = x
		case string:
			if f.secret && x != "" {
				v = RedactedMask
			}
		}
		out[f.key] = v
	}
	return out
}
