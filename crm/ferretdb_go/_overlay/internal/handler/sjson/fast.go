// Added to FerretDB's sjson package by the CRM's build (crm/ferretdb.py). Reading a
// document decoded every scalar with a json.Decoder of its own (a buffer allocated per
// value): about half of the CPU of any query that reads many documents, and most of
// its garbage. The plain forms json.Marshal writes are read directly here; anything
// else (escapes, exponents in integers, invalid input) returns ok=false and takes the
// original decoder, so results and errors are as before.

package sjson

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
)

// schemas holds parsed `$s` texts: the documents of a collection mostly share a few,
// and parsing one (as large as its document, by reflection) was a third of a read.
// Unmarshal only reads a schema, so one parsed copy serves every reader.
var schemas = struct {
	sync.Mutex
	parsed map[string]*schema
}{parsed: map[string]*schema{}}

// maxCachedSchema bounds the cache to 1,024 × 16 KiB of schema text (and its parse).
const maxCachedSchema = 16 << 10

// cachedSchema parses a `$s` text as Unmarshal did, once per distinct text.
func cachedSchema(jsch []byte) (*schema, error) {
	schemas.Lock()
	sch, ok := schemas.parsed[string(jsch)]
	schemas.Unlock()

	if ok {
		return sch, nil
	}

	sch = new(schema)
	r := bytes.NewReader(jsch)
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()

	if err := dec.Decode(sch); err != nil {
		return nil, lazyerrors.Error(err)
	}

	if err := checkConsumed(dec, r); err != nil {
		return nil, lazyerrors.Error(err)
	}

	// a long schema (a long array's) is seldom shared; kept, 1,024 of them could be large
	if len(jsch) > maxCachedSchema {
		return sch, nil
	}

	schemas.Lock()
	if len(schemas.parsed) >= 1024 {
		clear(schemas.parsed)
	}
	schemas.parsed[string(jsch)] = sch
	schemas.Unlock()

	return sch, nil
}

// fastString reads a JSON string without escapes.
func fastString(data []byte) (string, bool) {
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return "", false
	}

	inner := data[1 : len(data)-1]
	for _, c := range inner {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}

	if !utf8.Valid(inner) {
		return "", false
	}

	return string(inner), true
}

// fastInt reads a JSON integer of at most bits bits.
func fastInt(data []byte, bits int) (int64, bool) {
	digits := data
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}

	if len(digits) == 0 || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}

	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}

	n, err := strconv.ParseInt(string(data), 10, bits)

	return n, err == nil
}

// fastFloat reads a JSON number.
func fastFloat(data []byte) (float64, bool) {
	if len(data) == 0 || (data[0] != '-' && (data[0] < '0' || data[0] > '9')) {
		return 0, false
	}

	for _, c := range data {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return 0, false
		}
	}

	f, err := strconv.ParseFloat(string(data), 64)

	return f, err == nil
}

// fastBool reads true or false.
func fastBool(data []byte) (value bool, ok bool) {
	switch {
	case bytes.Equal(data, []byte("true")):
		return true, true
	case bytes.Equal(data, []byte("false")):
		return false, true
	default:
		return false, false
	}
}
