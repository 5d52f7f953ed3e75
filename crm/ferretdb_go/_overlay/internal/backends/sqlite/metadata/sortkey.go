// Added to FerretDB's SQLite backend by the CRM's build (crm/ferretdb.py). A top-level
// field is indexed, filtered and sorted through two SQL expressions: its type's rank in
// MongoDB's sort order and its SQL value. Indexes are built on these very expressions,
// so SQLite serves equality, ranges, $in, prefixes and sorts from an index, and can walk
// an index in order and stop at a page's end.

package metadata

import (
	"fmt"
	"regexp"
	"strings"
)

// PlainField is a top-level field name that needs no quoting in SQL or a JSON path.
var PlainField = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Ranks of the stored schema's type names in MongoDB's sort order; null and a missing
// field share rank 1.
var Ranks = map[string]int{
	"int": 2, "long": 2, "double": 2, "string": 3, "object": 4, "array": 5,
	"binData": 6, "objectId": 7, "bool": 8, "date": 9, "timestamp": 10, "regex": 11,
}

// rankOrder lists Ranks' type names in a fixed order: SQLite matches an index's
// expression only when a query writes it identically.
var rankOrder = []string{"int", "long", "double", "string", "object", "array", "binData", "objectId", "bool", "date", "timestamp", "regex"}

// RankOfType is the rank of the type whose schema name typeName (an SQL expression) holds.
func RankOfType(typeName string) string {
	var b strings.Builder

	b.WriteString("CASE " + typeName)

	for _, name := range rankOrder {
		fmt.Fprintf(&b, " WHEN '%s' THEN %d", name, Ranks[name])
	}

	b.WriteString(" ELSE 1 END")

	return b.String()
}

// RankOf is the rank of a top-level field's type.
func RankOf(field string) string {
	return RankOfType(fmt.Sprintf("%s ->> '$.\"$s\".p.%s.t'", DefaultColumn, field))
}

// ValueOf is a top-level field's SQL value: text, a number (dates in milliseconds,
// booleans 0 or 1), JSON text for objects and arrays, '' for null or missing (so that a
// unique index, like MongoDB's, admits one document without the field).
func ValueOf(field string) string {
	return fmt.Sprintf("coalesce(%s ->> '$.%s', '')", DefaultColumn, field)
}

// indexColumn is the SQL of one key of an index: rank and value of a top-level field
// (so is _id after another key: the tie-breaker of a sort). An index of _id alone leads
// with _id's JSON text, which lookups by _id (IDColumn) compare, and holds its rank and
// value too, so that a sort by _id can check _id's types from the index alone. Dotted
// paths keep FerretDB's form.
func indexColumn(field string, descending, alone bool) string {
	direction := ""
	if descending {
		direction = " DESC"
	}

	switch {
	case field == "_id" && alone:
		return IDColumn + ", " + RankOf(field) + ", " + ValueOf(field)
	case PlainField.MatchString(field):
		return RankOf(field) + direction + ", " + ValueOf(field) + direction
	}

	parts := strings.Split(field, ".")
	for i, part := range parts {
		parts[i] = fmt.Sprintf("%q", part)
	}

	return fmt.Sprintf("%s->%s", DefaultColumn, strings.Join(parts, "->")) + direction
}
