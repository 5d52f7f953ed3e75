// Added to modernc.org/libc by the CRM's FerretDB build (crm/ferretdb.py): the memory
// functions SQLite calls most, in place of their translations from musl's C (renamed
// by patches.json), which move a byte or a 4-byte word per step. Go's copy, memclr
// and string comparison are the runtime's vectorised loops. C asks of memcmp only
// the sign.

//go:build linux && (amd64 || arm64)

package libc

import "unsafe"

func bytesAt(p uintptr, n Tsize_t) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), n)
}

func Xmemcpy(tls *TLS, dest uintptr, src uintptr, n Tsize_t) (r uintptr) {
	if n != 0 {
		copy(bytesAt(dest, n), bytesAt(src, n))
	}
	return dest
}

func Xmemmove(tls *TLS, dest uintptr, src uintptr, n Tsize_t) (r uintptr) {
	if n != 0 {
		copy(bytesAt(dest, n), bytesAt(src, n)) // copy allows overlap
	}
	return dest
}

func Xmemset(tls *TLS, dest uintptr, c int32, n Tsize_t) (r uintptr) {
	if n == 0 {
		return dest
	}
	b := bytesAt(dest, n)
	if byte(c) == 0 {
		for i := range b { // the compiler's memclr (the module is Go 1.20: no clear)
			b[i] = 0
		}
		return dest
	}
	b[0] = byte(c)
	for filled := 1; filled < len(b); filled *= 2 {
		copy(b[filled:], b[:filled])
	}
	return dest
}

func Xmemcmp(tls *TLS, vl uintptr, vr uintptr, n Tsize_t) (r1 int32) {
	if n == 0 {
		return 0
	}
	l := unsafe.String((*byte)(unsafe.Pointer(vl)), n)
	r := unsafe.String((*byte)(unsafe.Pointer(vr)), n)
	switch {
	case l == r:
		return 0
	case l < r:
		return -1
	default:
		return 1
	}
}
