// Added to modernc.org/sqlite by the CRM's FerretDB build (crm/ferretdb.py): a
// connection keeps the statements it prepared for reuse. The driver prepared every
// statement again on each exec or query and finalized it after: compiling the SQL
// (for a write, code for each of up to 27 indexes' expressions) was a fifth of the
// server's CPU while customers were created (pprof). patches.json makes prepareV2
// take a kept statement of the same text and finalize keep one.

package sqlite

import (
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// keptStatements statements are kept per connection; the least recently used goes.
const keptStatements = 32

type stmtCache struct {
	text map[uintptr]string   // statements that may be kept (their whole SQL): in use or kept
	idle map[string][]uintptr // kept statements, reset, by their SQL
	lru  []uintptr            // the kept ones, least recently used first
}

// take returns a kept statement whose SQL is all of what zSQL points at, advancing
// zSQL past it as sqlite3_prepare_v2 would; 0 if there is none.
func (s *stmtCache) take(zSQL *uintptr) uintptr {
	if len(s.lru) == 0 {
		return 0
	}
	sql := libc.GoString(*zSQL)
	kept := s.idle[sql]
	if len(kept) == 0 {
		return 0
	}
	pstmt := kept[len(kept)-1]
	s.forget(pstmt)
	s.text[pstmt] = sql
	*zSQL += uintptr(len(sql))
	return pstmt
}

// prepared notes a statement just prepared from the SQL at start, whose tail is what
// followed it: only a statement that is the whole SQL may be kept.
func (s *stmtCache) prepared(pstmt, start, tail uintptr) {
	if pstmt == 0 || *(*byte)(unsafe.Pointer(tail)) != 0 {
		return
	}
	if s.text == nil {
		s.text = map[uintptr]string{}
		s.idle = map[string][]uintptr{}
	}
	s.text[pstmt] = libc.GoString(start)
}

// keep resets a statement its user is done with and keeps it, finalizing the least
// recently used beyond keptStatements; false for a statement it may not keep, or one
// whose last step failed (the caller finalizes it, and reports the error).
func (s *stmtCache) keep(c *conn, pstmt uintptr) bool {
	sql, ok := s.text[pstmt]
	if !ok {
		return false
	}
	for _, p := range s.lru {
		if p == pstmt { // kept already (finalized twice): never hand it out twice
			return true
		}
	}
	if sqlite3.Xsqlite3_reset(c.tls, pstmt) != sqlite3.SQLITE_OK {
		delete(s.text, pstmt)
		return false
	}
	sqlite3.Xsqlite3_clear_bindings(c.tls, pstmt) // what was bound is freed by now
	s.idle[sql] = append(s.idle[sql], pstmt)
	s.lru = append(s.lru, pstmt)
	if len(s.lru) > keptStatements {
		oldest := s.lru[0]
		s.forget(oldest)
		delete(s.text, oldest)
		sqlite3.Xsqlite3_finalize(c.tls, oldest)
	}
	return true
}

// forget takes a kept statement out of the idle lists (it stays in text).
func (s *stmtCache) forget(pstmt uintptr) {
	sql := s.text[pstmt]
	kept := s.idle[sql]
	for i, p := range kept {
		if p == pstmt {
			kept = append(kept[:i], kept[i+1:]...)
			break
		}
	}
	if len(kept) == 0 {
		delete(s.idle, sql)
	} else {
		s.idle[sql] = kept
	}
	for i, p := range s.lru {
		if p == pstmt {
			s.lru = append(s.lru[:i], s.lru[i+1:]...)
			break
		}
	}
}

// close finalizes the kept statements (before the connection closes).
func (s *stmtCache) close(c *conn) {
	for _, pstmt := range s.lru {
		sqlite3.Xsqlite3_finalize(c.tls, pstmt)
	}
	s.text, s.idle, s.lru = nil, nil, nil
}
