/a/	
/a/file with space
/a/hl-primary	@ 12/3456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0
/a/link	-> /etc/passwd
/b/	
/b/dev
/b/fifo
/b/hl-second
/b/wh
/c	@ aa/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
/hl-third
/odd	@ ab/cdef
