// Added to FerretDB's SQLite backend by the CRM's build (crm/ferretdb.py). FerretDB 1.24
// decodes every candidate document and filters, sorts, skips, limits and counts in Go,
// so a list page or a count costs the whole collection. When every part of a filter has
// an SQL form that selects exactly the documents MongoDB's rules select, the backend
// answers in SQL: a count is COUNT(*), and a find is sorted, skipped and limited before
// a single document is decoded. Any filter or sort with another part keeps the original
// path, so results never change; tests/integration/kernel compares both.

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/fsql"
	"github.com/FerretDB/FerretDB/internal/util/iterator"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// complexRanks: types with sort and comparison rules of their own (an array sorts by one
// of its elements, for one); a sort over any of them stays in the handler.
var complexRanks = []int{metadata.Ranks["object"], metadata.Ranks["array"], metadata.Ranks["binData"],
	metadata.Ranks["timestamp"], metadata.Ranks["regex"]}

// queryExactly answers the query in SQL alone when the whole filter and sort have exact
// SQL forms; handled=false leaves it to the original code.
func queryExactly(ctx context.Context, db *fsql.DB, meta *metadata.Collection, params *backends.QueryParams) (
	res *backends.QueryResult, handled bool, err error,
) {
	if meta.Capped() || params.OnlyRecordIDs {
		return nil, false, nil
	}

	var b sqlBuilder

	fields := filterFields(params.Filter)

	if b.flat, err = flatFields(ctx, db, meta, fields); err != nil {
		return nil, false, err
	}

	exact, ok := b.document(params.Filter)
	if !ok {
		return nil, false, nil
	}

	where, args := " WHERE "+exact, b.args

	if params.CountOnly {
		var n int64

		from := fmt.Sprintf("%q", meta.TableName)
		if index := coveringIndex(meta, fields, b.flat); index != "" {
			from += fmt.Sprintf(" INDEXED BY %q", index)
		}

		q := `SELECT COUNT(*) FROM ` + from + where

		// a count with a limit (skip + limit of the command) stops there: whether a common
		// value has more than n matches is n index entries, not all of them
		if params.FindLimit > 0 {
			q = `SELECT COUNT(*) FROM (SELECT 1 FROM ` + from + where + ` LIMIT ?)`
			args = append(args, params.FindLimit)
		}

		if err = db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			return nil, false, lazyerrors.Error(err)
		}

		return &backends.QueryResult{Iter: newQueryIterator(ctx, nil, false), Counted: true, Count: n}, true, nil
	}

	q := prepareSelectClause(meta.TableName, params.Comment, false, false) + where
	paged := false

	if params.FindSort.Len() > 0 || params.FindSkip > 0 || params.FindLimit > 0 {
		order, sortable := orderByClause(params.FindSort)

		if sortable && params.FindSort.Len() > 0 {
			var found bool
			if check := complexCheck(meta, params.FindSort); check != "" {
				if err = db.QueryRowContext(ctx, check).Scan(&found); err != nil {
					return nil, false, lazyerrors.Error(err)
				}
			}

			if !found && slices.Contains(params.FindSort.Keys(), "_id") {
				if found, err = complexIDs(ctx, db, meta); err != nil {
					return nil, false, err
				}
			}

			sortable = !found
		}

		if sortable && params.FindLimit > 0 {
			walked, err := walkPage(ctx, db, meta, params, fields, b.flat, where, args)
			if walked != nil || err != nil {
				return walked, err == nil, err
			}
		}

		if sortable {
			paged = true
			limit := params.FindLimit

			if limit == 0 {
				limit = -1 // SQLite: no limit
			}

			q += order + ` LIMIT ? OFFSET ?`
			args = append(args, limit, params.FindSkip)
		}
	}

	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, lazyerrors.Error(err)
	}

	return &backends.QueryResult{Iter: newQueryIterator(ctx, rows, false), Paged: paged}, true, nil
}

// collectionSize is the number of documents of the collection as the planner's statistics
// last counted them (sqlite_stat1, kept by statistics.go), else counted: walkPage weighs
// its plans by it, for which an estimate does, where counting every row cost a search
// ~30 ms at 200,000 customers.
func collectionSize(ctx context.Context, tx *fsql.Tx, meta *metadata.Collection) (int64, error) {
	var estimate sql.NullInt64

	// (no statistics yet: no sqlite_stat1 table, an error, or no row of this table)
	err := tx.QueryRowContext(ctx, `SELECT max(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = ?`,
		meta.TableName).Scan(&estimate)
	if err == nil && estimate.Valid && estimate.Int64 > 0 {
		return estimate.Int64, nil
	}

	var total int64
	if err = tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM %q`, meta.TableName)).Scan(&total); err != nil {
		return 0, lazyerrors.Error(err)
	}

	return total, nil
}

// explainWhereClause is the WHERE of the query a find or count with this filter runs, for
// explain: queryExactly's condition (with its knowledge of the fields free of arrays)
// where the filter has one, else pushdown.go's narrowing.
func explainWhereClause(ctx context.Context, db *fsql.DB, meta *metadata.Collection, filter *types.Document) (string, []any) {
	if filter == nil || meta.Capped() {
		return prepareWhereClause(filter)
	}

	var b sqlBuilder

	flat, err := flatFields(ctx, db, meta, filterFields(filter))
	if err != nil {
		return prepareWhereClause(filter)
	}

	b.flat = flat

	exact, ok := b.document(filter)
	if !ok {
		return prepareWhereClause(filter)
	}

	return " WHERE " + exact, b.args
}

// streamFrom is the limit from which a sorted find counts as reading many documents (an
// export), and streamShare the share of the collection (1/streamShare) its matches must
// at least be for it to be streamed in the sort's index order (see walkPage).
const (
	streamFrom  = 1000
	streamShare = 4
)

// walkPage answers a page of a sorted find by walking the index its sort leads in order,
// forwards or, for a page nearer the end, backwards, reading documents only until the page
// is full. SQLite's planner cannot weigh that walk's early end: when the filter also has
// an index (every list's `deleted: false`), it reads every matching document and sorts
// them, seconds for a page of 20 of 10,000 customers. The walk is taken when it reads
// fewer documents than that, judged by the number of matches, counted first from an index
// alone (without such a count, nil: the planner decides). Count and page are read in one
// transaction, so a backwards page is exactly the forward one.
//
// A find of many documents from the first (an export) whose matches are a large share of
// the collection is streamed along the sort's index instead: it reads at most streamShare
// times the documents the planner's plan reads, but its first documents leave at once,
// where that plan sorts every match first (13 s before an export's first row at 10,000
// customers on a busy machine).
func walkPage(ctx context.Context, db *fsql.DB, meta *metadata.Collection, params *backends.QueryParams,
	fields []string, flat map[string]bool, where string, args []any,
) (*backends.QueryResult, error) {
	// without a sort there is no order to walk: a limited find stops at its limit on any
	// plan, and the counts (the whole table's among them) were work for nothing
	if params.FindSort.Len() == 0 {
		return nil, nil
	}

	index := sortIndex(meta, params.FindSort)
	counter := coveringIndex(meta, fields, flat)

	if index == "" || (counter == "" && params.Filter.Len() > 0) {
		return nil, nil
	}

	from := fmt.Sprintf("%q", meta.TableName)
	if counter != "" {
		from += fmt.Sprintf(" INDEXED BY %q", counter)
	}

	var page [][]byte

	walked, stream := false, false

	err := db.InTransaction(ctx, func(tx *fsql.Tx) error {
		total, err := collectionSize(ctx, tx, meta)
		if err != nil {
			return err
		}

		// The matches are counted up to `bound` only: with more than that, walking forwards
		// reads fewer documents than the planner's plan (below), which is all a page near
		// the start needs to know (counting all 200,000 customers took ~30 ms). Near the end
		// (a backwards walk needs the exact number) the bound is past every match.
		skip, limit := params.FindSkip, params.FindLimit
		bound := max(2*skip+limit+1, int64(math.Sqrt(float64(skip+limit)*float64(total)))+1)

		var matching int64
		if err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM `+from+where+` LIMIT ?)`,
			append(slices.Clone(args), bound)...).Scan(&matching); err != nil {
			return lazyerrors.Error(err)
		}

		// the collection holds at least what matched: statistics taken before its latest
		// inserts (an import) counted fewer rows, and an export of every customer then
		// failed the tests below, walked, and read all of them before its first row
		// (2.9 s at 20,000 customers against 0.2 s streamed)
		total = max(total, matching)

		if skip >= matching {
			walked = true // an empty page
			return nil
		}

		limit = min(limit, matching-skip)

		// matches passed on the way (a share total/matching of the rows read are matches)
		ahead, behind := skip+limit, matching-skip
		if matching < bound && min(ahead, behind)*total >= matching*matching {
			stream = skip == 0 && params.FindLimit >= streamFrom && matching*streamShare >= total

			return nil // the planner's plan reads no more
		}

		sort, offset := params.FindSort, skip
		if behind < ahead {
			sort, offset = reversed(sort), matching-skip-limit
		}

		order, _ := orderByClause(sort)
		q := fmt.Sprintf(`SELECT %s FROM %q INDEXED BY %q`, metadata.DefaultColumn, meta.TableName, index) +
			where + order + ` LIMIT ? OFFSET ?`

		rows, err := tx.QueryContext(ctx, q, append(slices.Clone(args), limit, offset)...)
		if err != nil {
			return lazyerrors.Error(err)
		}
		defer rows.Close()

		for rows.Next() {
			var b []byte
			if err = rows.Scan(&b); err != nil {
				return lazyerrors.Error(err)
			}

			page = append(page, b)
		}

		if err = rows.Err(); err != nil {
			return lazyerrors.Error(err)
		}

		if behind < ahead {
			slices.Reverse(page)
		}

		walked = true

		return nil
	})
	if err != nil {
		return nil, err
	}

	if stream {
		order, _ := orderByClause(params.FindSort)
		q := fmt.Sprintf(`SELECT %s FROM %q INDEXED BY %q`, metadata.DefaultColumn, meta.TableName, index) +
			where + order + ` LIMIT ?`

		rows, err := db.QueryContext(ctx, q, append(slices.Clone(args), params.FindLimit)...)
		if err != nil {
			return nil, lazyerrors.Error(err)
		}

		return &backends.QueryResult{Iter: newQueryIterator(ctx, rows, false), Paged: true}, nil
	}

	if !walked {
		return nil, nil
	}

	next := 0
	iter := iterator.ForFunc(func() (struct{}, *types.Document, error) {
		if next == len(page) {
			return struct{}{}, nil, iterator.ErrIteratorDone
		}

		doc, err := sjson.Unmarshal(page[next])
		next++

		return struct{}{}, doc, err
	})

	return &backends.QueryResult{Iter: iter, Paged: true}, nil
}

// sortIndex names an index whose keys begin with the sort's fields, each the same way as
// the sort or each the other way (SQLite walks an index either way).
func sortIndex(meta *metadata.Collection, sort *types.Document) string {
	for _, index := range meta.Settings.Indexes {
		if len(index.Key) < sort.Len() || (len(index.Key) == 1 && index.Key[0].Field == "_id") {
			continue // _id's own index leads with its JSON text, not its rank
		}

		serves, flipped := true, false

		for i, field := range sort.Keys() {
			descending := must.NotFail(sort.Get(field)) == int64(-1)
			if i == 0 {
				flipped = index.Key[0].Descending != descending
			}

			serves = serves && index.Key[i].Field == field && (index.Key[i].Descending != descending) == flipped
		}

		if serves {
			return meta.TableName + "_" + index.Name
		}
	}

	return ""
}

// reversed is the sort the other way round.
func reversed(sort *types.Document) *types.Document {
	other := must.NotFail(types.NewDocument())

	for _, field := range sort.Keys() {
		other.Set(field, -must.NotFail(sort.Get(field)).(int64))
	}

	return other
}

// orderByClause returns ORDER BY for a sort of top-level fields: type rank, then value,
// MongoDB's order for numbers, strings, ObjectIDs, booleans, dates and null, which an
// index on the fields serves (complexCheck tells whether other types are present).
func orderByClause(sort *types.Document) (string, bool) {
	if sort.Len() == 0 {
		return "", true
	}

	keys := make([]string, 0, 2*sort.Len())

	for _, field := range sort.Keys() {
		if !metadata.PlainField.MatchString(field) {
			return "", false
		}

		direction := ""

		switch v := must.NotFail(sort.Get(field)).(type) {
		case int64:
			if v == -1 {
				direction = " DESC"
			} else if v != 1 {
				return "", false
			}
		default:
			return "", false
		}

		keys = append(keys, metadata.RankOf(field)+direction, metadata.ValueOf(field)+direction)
	}

	// no tie-breaker of its own (MongoDB gives none; callers sort by _id last): with one,
	// SQLite no longer walks an index in order
	return " ORDER BY " + strings.Join(keys, ", "), true
}

// complexCheck is a query telling whether any document of the collection has a sort key
// of another type; asked of the whole collection, not of the filter's documents, so that
// each key is one lookup in the index it leads (a filter would make SQLite read the rows;
// the index is named because statistics may lead the planner to the rows anyway).
func complexCheck(meta *metadata.Collection, sort *types.Document) string {
	leading := leadingIndexes(meta)

	var checks []string
	for _, field := range sort.Keys() {
		if field == "_id" {
			continue // complexIDs: no index leads with _id's rank
		}

		from := fmt.Sprintf("%q", meta.TableName)
		if index, ok := leading[field]; ok {
			from += fmt.Sprintf(" INDEXED BY %q", index)
		}

		checks = append(checks, fmt.Sprintf("EXISTS (SELECT 1 FROM %s WHERE %s IN %s)", from, metadata.RankOf(field), intList(complexRanks)))
	}

	if len(checks) == 0 {
		return ""
	}

	return "SELECT " + strings.Join(checks, " OR ")
}

// idCheck is what complexIDs found for a table, as of its newest row.
type idCheck struct {
	newest  string // the newest row's rowid, _id and _id's rank
	complex bool
}

// idChecks: database (its handle: one per open database file) and table name → idCheck.
var idChecks sync.Map

// complexIDs tells whether a document of the collection has an _id of a type with sort
// rules of its own (complexRanks). The _id index leads with _id's JSON text, not its
// rank, so asking reads the whole index (~14 ms at 200,000 documents, on every sorted
// page); the answer is kept per table with the newest row it saw. A new document is
// always the newest (SQLite gives it the largest rowid, or the largest one's again after
// that row was deleted, with another _id) and an _id never changes, so the answer holds
// while the newest row is the same; it is read before the check, so that a document
// inserted meanwhile makes the next query ask again.
func complexIDs(ctx context.Context, db *fsql.DB, meta *metadata.Collection) (bool, error) {
	var rowid, rank int64
	var id string

	err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT rowid, %s, %s FROM %q ORDER BY rowid DESC LIMIT 1`,
		metadata.RankOf("_id"), metadata.IDColumn, meta.TableName)).Scan(&rowid, &rank, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}

	if err != nil {
		return false, lazyerrors.Error(err)
	}

	newest := fmt.Sprintf("%d %d %s", rowid, rank, id)
	key := fmt.Sprintf("%p/%s", db, meta.TableName)
	if known, ok := idChecks.Load(key); ok && known.(idCheck).newest == newest {
		return known.(idCheck).complex, nil
	}

	// through the _id index, which holds the rank: left to itself SQLite scanned the table
	// and parsed every document's JSON for it (1.3 s at 50,000 customers, the first sorted
	// page after each insert; 8 ms through the index)
	from := fmt.Sprintf("%q", meta.TableName)
	if index, ok := leadingIndexes(meta)["_id"]; ok {
		from += fmt.Sprintf(" INDEXED BY %q", index)
	}

	var complex bool
	if err = db.QueryRowContext(ctx, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s WHERE %s IN %s)`,
		from, metadata.RankOf("_id"), intList(complexRanks))).Scan(&complex); err != nil {
		return false, lazyerrors.Error(err)
	}

	idChecks.Store(key, idCheck{newest: newest, complex: complex})

	return complex, nil
}

// sqlBuilder writes the exact SQL condition of a filter; placeholders are bound in the
// order the text is written.
type sqlBuilder struct {
	args []any
	flat map[string]bool // fields no document holds an array in (see flatFields)
}

// filterFields lists the top-level fields a filter names, through $and and $or.
func filterFields(filter *types.Document) []string {
	var fields []string

	seen := map[string]bool{}

	var walk func(*types.Document)
	walk = func(doc *types.Document) {
		for _, key := range doc.Keys() {
			value := must.NotFail(doc.Get(key))

			if clauses, ok := value.(*types.Array); ok && (key == "$and" || key == "$or" || key == "$nor") {
				for i := 0; i < clauses.Len(); i++ {
					if clause, ok := must.NotFail(clauses.Get(i)).(*types.Document); ok {
						walk(clause)
					}
				}
			} else if !seen[key] {
				seen[key] = true
				fields = append(fields, key)
			}
		}
	}
	walk(filter)

	return fields
}

// leadingIndexes maps each plain field to the SQL name of an index it leads; _id to its
// own index, which holds _id's rank and value.
func leadingIndexes(meta *metadata.Collection) map[string]string {
	leading := map[string]string{}

	for _, index := range meta.Settings.Indexes {
		if len(index.Key) == 0 {
			continue
		}

		field := index.Key[0].Field
		if _, taken := leading[field]; !taken && metadata.PlainField.MatchString(field) {
			leading[field] = meta.TableName + "_" + index.Name
		}
	}

	return leading
}

// flatFields tells, for each field the filter names that leads an index, whether no
// document of the collection holds an array in it: one index lookup per field. A
// condition on such a field needs no branch for array elements, and without that OR
// SQLite can answer from the field's index alone (a count) or walk it in order.
func flatFields(ctx context.Context, db *fsql.DB, meta *metadata.Collection, fields []string) (map[string]bool, error) {
	leading := leadingIndexes(meta)

	var checked []string
	var checks []string

	for _, field := range fields {
		if index, ok := leading[field]; ok && field != "_id" {
			checked = append(checked, field)
			checks = append(checks, fmt.Sprintf("NOT EXISTS (SELECT 1 FROM %q INDEXED BY %q WHERE %s = %d)",
				meta.TableName, index, metadata.RankOf(field), metadata.Ranks["array"]))
		}
	}

	flat := make(map[string]bool, len(checked))
	if len(checked) == 0 {
		return flat, nil
	}

	answers := make([]bool, len(checked))
	targets := make([]any, len(checked))

	for i := range answers {
		targets[i] = &answers[i]
	}

	if err := db.QueryRowContext(ctx, "SELECT "+strings.Join(checks, ", ")).Scan(targets...); err != nil {
		return nil, lazyerrors.Error(err)
	}

	for i, field := range checked {
		flat[field] = answers[i]
	}

	return flat, nil
}

// coveringIndex names the smallest index that holds every field of the filter, each
// free of arrays, so that a count reads the index alone. The planner is told to use it:
// from its statistics alone it may prefer reading every document (it cannot tell how
// much larger a document is than an index entry).
func coveringIndex(meta *metadata.Collection, fields []string, flat map[string]bool) string {
	for _, field := range fields {
		if !flat[field] {
			return "" // _id, an operator, a field with arrays or without an index of its own
		}
	}

	best, size := "", 0

	for _, index := range meta.Settings.Indexes {
		keys := map[string]bool{}
		for _, key := range index.Key {
			keys[key.Field] = true
		}

		covers := true
		for _, field := range fields {
			covers = covers && keys[field]
		}

		if covers && (best == "" || len(index.Key) < size) {
			best, size = meta.TableName+"_"+index.Name, len(index.Key)
		}
	}

	return best
}

func (b *sqlBuilder) bind(v any) string {
	b.args = append(b.args, v)
	return "?"
}

// document is the AND of a filter document's keys.
func (b *sqlBuilder) document(filter *types.Document) (string, bool) {
	if filter.Len() == 0 {
		return "1", true
	}

	// a repeated key means MongoDB's last-one-wins rules apply
	if _, duplicate := filter.FindDuplicateKey(); duplicate {
		return "", false
	}

	parts := make([]string, 0, filter.Len())

	for _, key := range filter.Keys() {
		value := must.NotFail(filter.Get(key))

		var part string
		var ok bool

		switch {
		case key == "$and" || key == "$or":
			part, ok = b.logical(key, value)
		case key == "$nor":
			// none of the clauses: the NOT of their OR (a clause is never NULL: ranks
			// are numbers, a missing field's too; COALESCE as for $ne)
			if part, ok = b.logical("$or", value); ok {
				part = "NOT COALESCE(" + part + ", 0)"
			}
		case metadata.PlainField.MatchString(key):
			part, ok = b.field(key, value)
		}

		if !ok {
			return "", false
		}

		parts = append(parts, part)
	}

	return "(" + strings.Join(parts, " AND ") + ")", true
}

func (b *sqlBuilder) logical(operator string, value any) (string, bool) {
	clauses, isArray := value.(*types.Array)
	if !isArray || clauses.Len() == 0 {
		return "", false
	}

	parts := make([]string, 0, clauses.Len())

	for i := 0; i < clauses.Len(); i++ {
		clause, isDoc := must.NotFail(clauses.Get(i)).(*types.Document)
		if !isDoc {
			return "", false
		}

		part, ok := b.document(clause)
		if !ok {
			return "", false
		}

		parts = append(parts, part)
	}

	joiner := " AND "
	if operator == "$or" {
		joiner = " OR "
	}

	return "(" + strings.Join(parts, joiner) + ")", true
}

// field is the condition of `{field: value}`: an equality, or a document of operators.
func (b *sqlBuilder) field(field string, value any) (string, bool) {
	operators, isDoc := value.(*types.Document)
	if !isDoc {
		return b.in(field, []any{value})
	}

	if operators.Len() == 0 {
		return "", false // equality with an empty document
	}

	if _, duplicate := operators.FindDuplicateKey(); duplicate {
		return "", false
	}

	parts := make([]string, 0, operators.Len())

	for _, operator := range operators.Keys() {
		operand := must.NotFail(operators.Get(operator))

		var part string
		var ok bool

		switch operator {
		case "$eq":
			part, ok = b.in(field, []any{operand})
		case "$ne":
			part, ok = b.in(field, []any{operand})
			part = "NOT COALESCE(" + part + ", 0)"
		case "$in", "$nin", "$all":
			var list *types.Array
			if list, ok = operand.(*types.Array); !ok {
				return "", false
			}

			values := make([]any, list.Len())
			for i := range values {
				values[i] = must.NotFail(list.Get(i))
			}

			switch {
			case operator == "$in":
				part, ok = b.in(field, values)
			case operator == "$nin":
				part, ok = b.in(field, values)
				part = "NOT COALESCE(" + part + ", 0)"
			case len(values) == 0:
				part, ok = "0", true // $all of nothing matches nothing
			default:
				all := make([]string, len(values))
				for i, v := range values {
					if all[i], ok = b.in(field, []any{v}); !ok {
						return "", false
					}
				}

				part = "(" + strings.Join(all, " AND ") + ")"
			}
		case "$gt", "$gte", "$lt", "$lte":
			part, ok = b.compare(field, operator, operand)
		case "$regex":
			options, _ := operators.Get("$options")
			part, ok = b.prefix(field, operand, options)
		case "$options":
			continue // read with $regex
		}

		if !ok {
			return "", false
		}

		parts = append(parts, part)
	}

	if len(parts) == 0 {
		return "", false
	}

	return "(" + strings.Join(parts, " AND ") + ")", true
}

// in: the field, or an element of it, equals one of values (null: also a missing field).
func (b *sqlBuilder) in(field string, values []any) (string, bool) {
	if len(values) == 0 {
		return "0", true
	}

	byRank := map[int][]any{}
	var ranks []int

	for _, v := range values {
		rank, sqlValue, ok := scalar(v)
		if !ok {
			return "", false
		}

		if _, seen := byRank[rank]; !seen {
			ranks = append(ranks, rank)
		}

		byRank[rank] = append(byRank[rank], sqlValue)
	}

	if field == "_id" {
		// only the forms of _id its index holds; for any other (null, a number) the
		// handler's own matcher decides (the generic form missed every document)
		return b.idIn(values)
	}

	predicate := func(rank, value string) string {
		alternatives := make([]string, len(ranks))

		for i, r := range ranks {
			if r == nullRank {
				alternatives[i] = fmt.Sprintf("%s = %d", rank, r)
				continue
			}

			placeholders := make([]string, len(byRank[r]))
			for j, v := range byRank[r] {
				placeholders[j] = b.bind(v)
			}

			alternatives[i] = fmt.Sprintf("(%s = %d AND %s IN (%s))", rank, r, value, strings.Join(placeholders, ", "))
		}

		return "(" + strings.Join(alternatives, " OR ") + ")"
	}

	return b.anyValue(field, predicate), true
}

// idIn: _id (never an array, never missing) among strings and ObjectIDs, in the form its
// unique index is built on (JSON text), with the type checked on the rows found. One
// `IN` list per type, not an OR per value: SQLite nests a chain of ORs one level per
// term, and past 1,000 levels refuses the query ("Expression tree is too large").
func (b *sqlBuilder) idIn(values []any) (string, bool) {
	byRank := map[int][]string{}
	var ranks []int

	for _, v := range values {
		switch v.(type) {
		case string, types.ObjectID:
		default:
			return "", false
		}

		text := string(must.NotFail(sjson.MarshalSingleValue(v)))

		if !rendersAlike(text) {
			return "", false
		}

		rank, _, _ := scalar(v)
		if _, seen := byRank[rank]; !seen {
			ranks = append(ranks, rank)
		}

		byRank[rank] = append(byRank[rank], b.bind(text))
	}

	alternatives := make([]string, len(ranks))
	for i, r := range ranks {
		alternatives[i] = fmt.Sprintf("(%s IN (%s) AND %s = %d)", metadata.IDColumn,
			strings.Join(byRank[r], ", "), metadata.RankOf("_id"), r)
	}

	return "(" + strings.Join(alternatives, " OR ") + ")", true
}

// rendersAlike: a JSON string Go's encoder and SQLite's write alike, so that it finds its
// value in the _id index (SQLite's rendering): its only escapes are \" \\ \n \r \t and
// \u00XX of the other control characters but \b and \f (which SQLite writes short); Go
// also escapes <, >, & and U+2028/9, which SQLite does not. (The search rows' ids hold
// \x1f: refused, a delete of them by _id read every row, 35 s at 11.7 million rows.)
func rendersAlike(text string) bool {
	for i := 0; i < len(text); i++ {
		if text[i] != '\\' {
			continue
		}

		i++
		if i >= len(text) {
			return false
		}

		switch text[i] {
		case '"', '\\', 'n', 'r', 't':
		case 'u':
			if i+4 >= len(text) {
				return false
			}

			code := text[i+1 : i+5]
			if code[:2] != "00" || code >= "0020" || code == "0008" || code == "000c" {
				return false
			}

			i += 4
		default:
			return false
		}
	}

	return true
}

// compare: the field, or an element of it, compares to operand within its type bracket.
func (b *sqlBuilder) compare(field, operator string, operand any) (string, bool) {
	rank, sqlValue, ok := scalar(operand)
	if !ok || rank == nullRank {
		return "", false
	}

	symbol := map[string]string{"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[operator]

	predicate := func(rankExpr, value string) string {
		return fmt.Sprintf("(%s = %d AND %s %s %s)", rankExpr, rank, value, symbol, b.bind(sqlValue))
	}

	return b.anyValue(field, predicate), true
}

// prefix: `$regex: "^literal"` without options, as the CRM's searches write it.
func (b *sqlBuilder) prefix(field string, pattern, options any) (string, bool) {
	if options != nil && options != "" {
		return "", false
	}

	var text string

	switch p := pattern.(type) {
	case string:
		text = p
	case types.Regex:
		if p.Options != "" {
			return "", false
		}

		text = p.Pattern
	default:
		return "", false
	}

	literal, ok := anchoredLiteral(text)
	if !ok {
		return "", false
	}

	// the strings starting with literal also lie in a range of the index on the field
	// (SQLite compares text as MongoDB does, by code point): a prefix that is one branch
	// of an $or (a supervisor's team and those below it) would otherwise scan the table
	lower, upper, bounded := prefixBounds(literal)

	predicate := func(rank, value string) string {
		within := fmt.Sprintf("%s >= %s", value, b.bind(lower))
		if bounded {
			within += fmt.Sprintf(" AND %s < %s", value, b.bind(upper))
		}

		return fmt.Sprintf("(%s = %d AND %s AND substr(%s, 1, %d) = %s)",
			rank, metadata.Ranks["string"], within, value, utf8.RuneCountInString(literal), b.bind(literal))
	}

	return b.anyValue(field, predicate), true
}

// prefixBounds: the strings starting with literal are those >= literal and < upper
// (literal with its last character raised); none above when it cannot be raised.
func prefixBounds(literal string) (lower, upper string, bounded bool) {
	runes := []rune(literal)
	if len(runes) == 0 {
		return "", "", false
	}

	last := runes[len(runes)-1] + 1
	if last >= 0xD800 && last <= 0xDFFF { // surrogates are no characters
		last = 0xE000
	}

	if last > utf8.MaxRune {
		return literal, "", false
	}

	runes[len(runes)-1] = last

	return literal, string(runes), true
}

// anyValue: the predicate holds for the field's rank and value, or for an element's when
// it is an array (one level: FerretDB stores no nested arrays).
func (b *sqlBuilder) anyValue(field string, predicate func(rank, value string) string) string {
	rank := metadata.RankOf(field)
	top := predicate(rank, metadata.ValueOf(field))

	if b.flat[field] {
		return top
	}

	elementType := fmt.Sprintf("%s ->> ('$.\"$s\".p.%s.i[' || e.key || '].t')", metadata.DefaultColumn, field)
	element := predicate(metadata.RankOfType(elementType), "e.atom")

	// json_each of the field's own text: given the whole document, it parses all of it
	// again for every row, which doubled the cost of a filter reading each document
	return fmt.Sprintf("(%s OR (%s = %d AND EXISTS (SELECT 1 FROM json_each(%s -> '$.%s') AS e WHERE %s)))",
		top, rank, metadata.Ranks["array"], metadata.DefaultColumn, field, element)
}

// nullRank is the rank of null (and of a missing field).
const nullRank = 1

// scalar returns the rank of a value's type and its SQL value as ValueOf reads it.
func scalar(v any) (rank int, sqlValue any, ok bool) {
	switch v := v.(type) {
	case types.NullType:
		return nullRank, nil, true
	case string:
		return metadata.Ranks["string"], v, true
	case types.ObjectID:
		return metadata.Ranks["objectId"], hex.EncodeToString(v[:]), true
	case bool:
		if v {
			return metadata.Ranks["bool"], int64(1), true
		}

		return metadata.Ranks["bool"], int64(0), true
	case int32:
		return metadata.Ranks["int"], int64(v), true
	case int64:
		return metadata.Ranks["int"], v, true
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, nil, false
		}

		return metadata.Ranks["int"], v, true
	case time.Time:
		return metadata.Ranks["date"], v.UnixMilli(), true
	default:
		return 0, nil, false
	}
}

// anchoredLiteral returns the text `^literal` matches at the start of a string, or
// ok=false when the pattern holds any other regular-expression syntax.
func anchoredLiteral(pattern string) (string, bool) {
	rest, anchored := strings.CutPrefix(pattern, "^")
	if !anchored {
		return "", false
	}

	var literal strings.Builder

	escaped := false

	for _, r := range rest {
		switch {
		case escaped:
			// an escaped letter or digit is a class or a back-reference, not itself
			if r < 128 && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return "", false
			}

			literal.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case strings.ContainsRune(`.^$*+?()[]{}|`, r):
			return "", false
		default:
			literal.WriteRune(r)
		}
	}

	if escaped {
		return "", false
	}

	return literal.String(), true
}

func intList(values []int) string {
	texts := make([]string, len(values))
	for i, v := range values {
		texts[i] = fmt.Sprint(v)
	}

	return "(" + strings.Join(texts, ", ") + ")"
}
