package sqlengine

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// typeName is the Statement Execution API's type_name of a DuckDB type.
func typeName(duck string) string {
	base := duck
	if i := strings.IndexAny(base, "(["); i >= 0 {
		base = base[:i]
	}
	switch {
	case strings.HasSuffix(duck, "[]"):
		return "ARRAY"
	}
	switch strings.ToUpper(base) {
	case "BOOLEAN":
		return "BOOLEAN"
	case "TINYINT", "UTINYINT":
		return "BYTE"
	case "SMALLINT", "USMALLINT":
		return "SHORT"
	case "INTEGER", "UINTEGER":
		return "INT"
	case "BIGINT", "UBIGINT":
		return "LONG"
	case "HUGEINT", "UHUGEINT", "DECIMAL":
		return "DECIMAL"
	case "FLOAT":
		return "FLOAT"
	case "DOUBLE":
		return "DOUBLE"
	case "VARCHAR", "UUID", "ENUM", "BIT":
		return "STRING"
	case "DATE":
		return "DATE"
	case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS":
		return "TIMESTAMP_NTZ"
	case "TIMESTAMPTZ":
		return "TIMESTAMP"
	case "BLOB":
		return "BINARY"
	case "INTERVAL":
		return "INTERVAL"
	case "STRUCT":
		return "STRUCT"
	case "MAP":
		return "MAP"
	case "LIST":
		return "ARRAY"
	case "NULL", "\"NULL\"":
		return "NULL"
	}
	return "USER_DEFINED_TYPE"
}

// format is a value as the JSON_ARRAY format has it: text, or nil for NULL.
func format(v any, duckType string) *string {
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		s = x
	case []byte:
		s = base64.StdEncoding.EncodeToString(x)
	case bool:
		s = strconv.FormatBool(x)
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint:
		s = fmt.Sprint(x)
	case float32:
		s = strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case *big.Int:
		s = x.String()
	case duckdb.Decimal:
		s = formatDecimal(x)
	case duckdb.UUID:
		s = (&x).String()
	case time.Time:
		s = formatTime(x, duckType)
	case duckdb.Interval:
		s = fmt.Sprintf("%d months %d days %d microseconds", x.Months, x.Days, x.Micros)
	default:
		data, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(data)
		}
	}
	return &s
}

func formatTime(t time.Time, duckType string) string {
	switch strings.ToUpper(duckType) {
	case "DATE":
		return t.Format(time.DateOnly)
	case "TIME":
		return t.Format("15:04:05.999999")
	case "TIMESTAMPTZ":
		return t.UTC().Format(time.RFC3339Nano)
	}
	return t.Format("2006-01-02T15:04:05.999999")
}

// formatDecimal writes every digit of the decimal's scale, as the API does (1.50, not 1.5).
func formatDecimal(d duckdb.Decimal) string {
	if d.Value == nil {
		return "0"
	}
	digits := new(big.Int).Abs(d.Value).String()
	scale := int(d.Scale)
	if scale > 0 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if d.Value.Sign() < 0 {
		return "-" + digits
	}
	return digits
}
