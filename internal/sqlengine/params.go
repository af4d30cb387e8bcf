package sqlengine

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/serverlessplane/operator/internal/sqlwire"
)

// paramTypes maps the Statement Execution API's parameter types to DuckDB's.
var paramTypes = map[string]string{
	"STRING": "VARCHAR", "VARCHAR": "VARCHAR", "CHAR": "VARCHAR",
	"INT": "INTEGER", "INTEGER": "INTEGER", "BIGINT": "BIGINT", "LONG": "BIGINT", "SMALLINT": "SMALLINT", "SHORT": "SMALLINT",
	"TINYINT": "TINYINT", "BYTE": "TINYINT", "DOUBLE": "DOUBLE", "FLOAT": "FLOAT", "REAL": "FLOAT",
	"BOOLEAN": "BOOLEAN", "DATE": "DATE", "TIMESTAMP": "TIMESTAMPTZ", "TIMESTAMP_NTZ": "TIMESTAMP",
	"BINARY": "BLOB", "DECIMAL": "DECIMAL",
}

var (
	identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	decimal    = regexp.MustCompile(`^DECIMAL\(\s*(\d{1,2})\s*(?:,\s*(\d{1,2})\s*)?\)$`)
)

// sqlType is the DuckDB type of an API parameter type; only known types pass, so the type is
// never text a caller can inject.
func sqlType(t string) (string, bool) {
	t = strings.ToUpper(strings.TrimSpace(t))
	if t == "" {
		return "VARCHAR", true
	}
	if m := decimal.FindStringSubmatch(t); m != nil {
		if m[2] == "" {
			return "DECIMAL(" + m[1] + ")", true
		}
		return "DECIMAL(" + m[1] + "," + m[2] + ")", true
	}
	d, ok := paramTypes[t]
	return d, ok
}

// bindParameters rewrites the statement's parameter markers as typed DuckDB parameters ($name
// cast to the parameter's type) and returns the values by name: :name markers for named
// parameters, ? markers for positional ones (parameters without a name, bound in order, as SQL
// drivers send them). Markers in string literals, quoted identifiers, comments and :: casts are
// left alone. Every marker must name a parameter, and every parameter must be used; a statement
// takes named or positional parameters, not both.
func bindParameters(statement string, params []sqlwire.Parameter) (string, map[string]*string, error) {
	byName := map[string]sqlwire.Parameter{}
	var positional []string // the names given to positional parameters, in order
	for i, p := range params {
		if p.Name == "" {
			p.Name = fmt.Sprintf("p%d", i+1)
			positional = append(positional, p.Name)
		} else if !identifier.MatchString(p.Name) {
			return "", nil, fmt.Errorf("parameters[%d].name %q is not a name: use letters, digits and _", i, p.Name)
		}
		if _, dup := byName[p.Name]; dup {
			return "", nil, fmt.Errorf("parameters[%d].name %q is given twice", i, p.Name)
		}
		if _, ok := sqlType(p.Type); !ok {
			return "", nil, fmt.Errorf("parameters[%d].type %q of %q is not a supported type (STRING, INT, BIGINT, SMALLINT, TINYINT, DOUBLE, FLOAT, BOOLEAN, DATE, TIMESTAMP, TIMESTAMP_NTZ, BINARY, DECIMAL(p,s))", i, p.Type, p.Name)
		}
		byName[p.Name] = p
	}
	if len(positional) != 0 && len(positional) != len(params) {
		return "", nil, fmt.Errorf("parameters mix named and positional ones (without a name): use one kind")
	}
	used := map[string]*string{}
	var out strings.Builder
	for i := 0; i < len(statement); {
		c := statement[i]
		switch {
		case c == '\'' || c == '"':
			j := skipQuoted(statement, i, c)
			out.WriteString(statement[i:j])
			i = j
		case c == '-' && strings.HasPrefix(statement[i:], "--"):
			j := strings.IndexByte(statement[i:], '\n')
			if j < 0 {
				j = len(statement) - i
			}
			out.WriteString(statement[i : i+j])
			i += j
		case c == '/' && strings.HasPrefix(statement[i:], "/*"):
			j := strings.Index(statement[i+2:], "*/")
			end := len(statement)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			out.WriteString(statement[i:end])
			i = end
		case c == ':' && strings.HasPrefix(statement[i:], "::"):
			out.WriteString("::")
			i += 2
		case c == '?' && len(positional) > 0:
			n := len(used)
			if n >= len(positional) {
				return "", nil, fmt.Errorf("the statement has more ? markers than the %d positional parameters", len(positional))
			}
			p := byName[positional[n]]
			t, _ := sqlType(p.Type)
			fmt.Fprintf(&out, "CAST($%s AS %s)", p.Name, t)
			used[p.Name] = p.Value
			i++
		case c == ':' && i+1 < len(statement) && isNameStart(statement[i+1]) && len(positional) == 0:
			j := i + 1
			for j < len(statement) && isNameChar(statement[j]) {
				j++
			}
			name := statement[i+1 : j]
			p, ok := byName[name]
			if !ok {
				return "", nil, fmt.Errorf("the statement uses the parameter :%s, which parameters does not name", name)
			}
			t, _ := sqlType(p.Type)
			fmt.Fprintf(&out, "CAST($%s AS %s)", name, t)
			used[name] = p.Value
			i = j
		default:
			out.WriteByte(c)
			i++
		}
	}
	if len(positional) > 0 && len(used) < len(positional) {
		return "", nil, fmt.Errorf("the statement has %d ? markers for %d positional parameters", len(used), len(positional))
	}
	for _, p := range params {
		if _, ok := used[p.Name]; !ok && p.Name != "" {
			return "", nil, fmt.Errorf("parameter %q is not used by the statement: remove it or add :%s", p.Name, p.Name)
		}
	}
	return out.String(), used, nil
}

// skipQuoted returns the index just past the quoted text that starts at i (” and "" escape
// the quote); an unterminated quote runs to the end, and DuckDB reports it.
func skipQuoted(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		if s[j] == q {
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

func isNameStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isNameChar(c byte) bool  { return isNameStart(c) || c >= '0' && c <= '9' }
