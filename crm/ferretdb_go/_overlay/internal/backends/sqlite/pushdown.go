// Added to FerretDB's SQLite backend by the CRM's build (crm/ferretdb.py): narrows a
// query with SQL conditions the collection's indexes can serve, where FerretDB 1.24
// narrows only by a lone _id. Every condition keeps a superset of the documents the
// filter matches (the handler still applies the whole filter to what is returned), so
// results never change; only the rows read and decoded do.

package sqlite

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// plainField is a top-level field name written exactly as CREATE INDEX writes it.
var plainField = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// prepareWhereClause returns a WHERE clause with one condition per pushed-down key:
// equality with a string, ObjectID, boolean or null, `$eq` and `$in` of those, at the
// top level of the filter or inside its top-level `$and`.
func prepareWhereClause(filter *types.Document) (string, []any) {
	var conditions []string
	var args []any

	collectConditions(filter, &conditions, &args)

	if len(conditions) == 0 {
		return "", nil
	}

	return " WHERE " + strings.Join(conditions, " AND "), args
}

func collectConditions(filter *types.Document, conditions *[]string, args *[]any) {
	if filter == nil {
		return
	}

	// a repeated key means MongoDB's last-one-wins rules apply: leave it to the handler
	if _, duplicate := filter.FindDuplicateKey(); duplicate {
		return
	}

	for _, key := range filter.Keys() {
		value := must.NotFail(filter.Get(key))

		if key == "$and" {
			clauses, ok := value.(*types.Array)
			if !ok {
				continue
			}

			for i := 0; i < clauses.Len(); i++ {
				if clause, ok := must.NotFail(clauses.Get(i)).(*types.Document); ok {
					collectConditions(clause, conditions, args)
				}
			}

			continue
		}

		if !plainField.MatchString(key) {
			continue
		}

		encoded, null, ok := equalityValues(value)
		if !ok {
			continue
		}

		// The column expression is the one CREATE INDEX uses, so SQLite can use the index.
		column := fmt.Sprintf("%s->%q", metadata.DefaultColumn, key)

		// MongoDB's equality also matches an array holding the value (and null a missing
		// field): every array is kept, as JSON text starting with '['.
		alternatives := []string{fmt.Sprintf(`(%s >= '[' AND %s < '\')`, column, column)}

		if null {
			alternatives = append(alternatives, column+" IS NULL")
		}

		if len(encoded) > 0 {
			alternatives = append(alternatives,
				fmt.Sprintf("%s IN (%s)", column, strings.TrimSuffix(strings.Repeat("?, ", len(encoded)), ", ")))

			for _, e := range encoded {
				*args = append(*args, e)
			}
		}

		*conditions = append(*conditions, "("+strings.Join(alternatives, " OR ")+")")
	}
}

// equalityValues returns the JSON texts a field equal to value may have (null also
// means a missing field), or ok=false when the value is not one pushed down.
func equalityValues(value any) (encoded []string, null bool, ok bool) {
	if doc, isDoc := value.(*types.Document); isDoc {
		if doc.Len() != 1 {
			return nil, false, false
		}

		switch operator := doc.Keys()[0]; operator {
		case "$eq":
			return equalityValues(must.NotFail(doc.Get(operator)))
		case "$in":
			list, isArray := must.NotFail(doc.Get(operator)).(*types.Array)
			if !isArray {
				return nil, false, false
			}

			for i := 0; i < list.Len(); i++ {
				more, moreNull, scalar := scalarValue(must.NotFail(list.Get(i)))
				if !scalar {
					return nil, false, false
				}

				encoded = append(encoded, more...)
				null = null || moreNull
			}

			return encoded, null, len(encoded) > 0 || null
		default:
			return nil, false, false
		}
	}

	return scalarValue(value)
}

func scalarValue(value any) (encoded []string, null bool, ok bool) {
	switch value.(type) {
	case types.NullType:
		return []string{"null"}, true, true
	case string, types.ObjectID, bool:
		text := string(must.NotFail(sjson.MarshalSingleValue(value)))

		// SQLite may render escaped characters differently from Go's encoder
		if strings.ContainsRune(text, '\\') {
			return nil, false, false
		}

		return []string{text}, false, true
	default:
		return nil, false, false
	}
}
