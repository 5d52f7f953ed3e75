// Added to FerretDB's SQLite backend by the CRM's build (crm/ferretdb.py): narrows a
// query that is not answered in SQL alone (exact.go) with the SQL conditions of the
// filter's top-level clauses (and those of a top-level $and) that have one. Each selects
// exactly what its clause selects, so together they keep a superset of the documents the
// filter matches; the handler applies the whole filter to what is returned, so results
// never change, only the rows read and decoded do. FerretDB 1.24 narrowed by a lone _id.

package sqlite

import (
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// prepareWhereClause returns a WHERE clause with one condition per translated clause.
func prepareWhereClause(filter *types.Document) (string, []any) {
	var b sqlBuilder
	var conditions []string

	b.collect(filter, &conditions)

	if len(conditions) == 0 {
		return "", nil
	}

	return " WHERE " + strings.Join(conditions, " AND "), b.args
}

func (b *sqlBuilder) collect(filter *types.Document, conditions *[]string) {
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
			if clauses, ok := value.(*types.Array); ok {
				for i := 0; i < clauses.Len(); i++ {
					if clause, ok := must.NotFail(clauses.Get(i)).(*types.Document); ok {
						b.collect(clause, conditions)
					}
				}
			}

			continue
		}

		if !metadata.PlainField.MatchString(key) {
			continue
		}

		bound := len(b.args)

		condition, ok := b.field(key, value)
		if !ok {
			b.args = b.args[:bound] // what a clause bound before giving up
			continue
		}

		*conditions = append(*conditions, condition)
	}
}
