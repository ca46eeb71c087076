"""BLAKE3 in pure Python (no package for it exists in Debian).

Pie names programs and blobs by the BLAKE3 hash of their bytes, as 64 lowercase hex digits.
Implements hashing, keyed hashing, key derivation and extended output. Throughput is modest
(around a megabyte per second), which is plenty for hashing programs and blobs before upload.
"""

_MASK = 0xFFFFFFFF
_IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
       0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
_BLOCK_LEN = 64
_CHUNK_LEN = 1024
_CHUNK_START = 1 << 0
_CHUNK_END = 1 << 1
_PARENT = 1 << 2
_ROOT = 1 << 3
_KEYED_HASH = 1 << 4
_DERIVE_KEY_CONTEXT = 1 << 5
_DERIVE_KEY_MATERIAL = 1 << 6


def _schedules():
    perm = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)
    order = list(range(16))
    rounds = []
    for _ in range(7):
        rounds.append(tuple(order))
        order = [order[p] for p in perm]
    return tuple(rounds)


_SCHEDULE = _schedules()


def _compress(cv, m, counter, block_len, flags):
    """The BLAKE3 compression function; returns all 16 output words."""
    v0, v1, v2, v3, v4, v5, v6, v7 = cv
    v8, v9, v10, v11 = _IV[0], _IV[1], _IV[2], _IV[3]
    v12 = counter & _MASK
    v13 = (counter >> 32) & _MASK
    v14 = block_len
    v15 = flags
    for s in _SCHEDULE:
        # Columns.
        v0 = (v0 + v4 + m[s[0]]) & _MASK; v12 ^= v0; v12 = ((v12 >> 16) | (v12 << 16)) & _MASK
        v8 = (v8 + v12) & _MASK; v4 ^= v8; v4 = ((v4 >> 12) | (v4 << 20)) & _MASK
        v0 = (v0 + v4 + m[s[1]]) & _MASK; v12 ^= v0; v12 = ((v12 >> 8) | (v12 << 24)) & _MASK
        v8 = (v8 + v12) & _MASK; v4 ^= v8; v4 = ((v4 >> 7) | (v4 << 25)) & _MASK
        v1 = (v1 + v5 + m[s[2]]) & _MASK; v13 ^= v1; v13 = ((v13 >> 16) | (v13 << 16)) & _MASK
        v9 = (v9 + v13) & _MASK; v5 ^= v9; v5 = ((v5 >> 12) | (v5 << 20)) & _MASK
        v1 = (v1 + v5 + m[s[3]]) & _MASK; v13 ^= v1; v13 = ((v13 >> 8) | (v13 << 24)) & _MASK
        v9 = (v9 + v13) & _MASK; v5 ^= v9; v5 = ((v5 >> 7) | (v5 << 25)) & _MASK
        v2 = (v2 + v6 + m[s[4]]) & _MASK; v14 ^= v2; v14 = ((v14 >> 16) | (v14 << 16)) & _MASK
        v10 = (v10 + v14) & _MASK; v6 ^= v10; v6 = ((v6 >> 12) | (v6 << 20)) & _MASK
        v2 = (v2 + v6 + m[s[5]]) & _MASK; v14 ^= v2; v14 = ((v14 >> 8) | (v14 << 24)) & _MASK
        v10 = (v10 + v14) & _MASK; v6 ^= v10; v6 = ((v6 >> 7) | (v6 << 25)) & _MASK
        v3 = (v3 + v7 + m[s[6]]) & _MASK; v15 ^= v3; v15 = ((v15 >> 16) | (v15 << 16)) & _MASK
        v11 = (v11 + v15) & _MASK; v7 ^= v11; v7 = ((v7 >> 12) | (v7 << 20)) & _MASK
        v3 = (v3 + v7 + m[s[7]]) & _MASK; v15 ^= v3; v15 = ((v15 >> 8) | (v15 << 24)) & _MASK
        v11 = (v11 + v15) & _MASK; v7 ^= v11; v7 = ((v7 >> 7) | (v7 << 25)) & _MASK
        # Diagonals.
        v0 = (v0 + v5 + m[s[8]]) & _MASK; v15 ^= v0; v15 = ((v15 >> 16) | (v15 << 16)) & _MASK
        v10 = (v10 + v15) & _MASK; v5 ^= v10; v5 = ((v5 >> 12) | (v5 << 20)) & _MASK
        v0 = (v0 + v5 + m[s[9]]) & _MASK; v15 ^= v0; v15 = ((v15 >> 8) | (v15 << 24)) & _MASK
        v10 = (v10 + v15) & _MASK; v5 ^= v10; v5 = ((v5 >> 7) | (v5 << 25)) & _MASK
        v1 = (v1 + v6 + m[s[10]]) & _MASK; v12 ^= v1; v12 = ((v12 >> 16) | (v12 << 16)) & _MASK
        v11 = (v11 + v12) & _MASK; v6 ^= v11; v6 = ((v6 >> 12) | (v6 << 20)) & _MASK
        v1 = (v1 + v6 + m[s[11]]) & _MASK; v12 ^= v1; v12 = ((v12 >> 8) | (v12 << 24)) & _MASK
        v11 = (v11 + v12) & _MASK; v6 ^= v11; v6 = ((v6 >> 7) | (v6 << 25)) & _MASK
        v2 = (v2 + v7 + m[s[12]]) & _MASK; v13 ^= v2; v13 = ((v13 >> 16) | (v13 << 16)) & _MASK
        v8 = (v8 + v13) & _MASK; v7 ^= v8; v7 = ((v7 >> 12) | (v7 << 20)) & _MASK
        v2 = (v2 + v7 + m[s[13]]) & _MASK; v13 ^= v2; v13 = ((v13 >> 8) | (v13 << 24)) & _MASK
        v8 = (v8 + v13) & _MASK; v7 ^= v8; v7 = ((v7 >> 7) | (v7 << 25)) & _MASK
        v3 = (v3 + v4 + m[s[14]]) & _MASK; v14 ^= v3; v14 = ((v14 >> 16) | (v14 << 16)) & _MASK
        v9 = (v9 + v14) & _MASK; v4 ^= v9; v4 = ((v4 >> 12) | (v4 << 20)) & _MASK
        v3 = (v3 + v4 + m[s[15]]) & _MASK; v14 ^= v3; v14 = ((v14 >> 8) | (v14 << 24)) & _MASK
        v9 = (v9 + v14) & _MASK; v4 ^= v9; v4 = ((v4 >> 7) | (v4 << 25)) & _MASK
    return [v0 ^ v8, v1 ^ v9, v2 ^ v10, v3 ^ v11, v4 ^ v12, v5 ^ v13, v6 ^ v14, v7 ^ v15,
            v8 ^ cv[0], v9 ^ cv[1], v10 ^ cv[2], v11 ^ cv[3],
            v12 ^ cv[4], v13 ^ cv[5], v14 ^ cv[6], v15 ^ cv[7]]


def _words(block):
    """A block of up to 64 bytes as 16 little-endian words (zero padded)."""
    return list(int.from_bytes(block[i:i + 4].ljust(4, b"\0"), "little") for i in range(0, 64, 4))


class _Output:
    """The last compression of a tree, as a chaining value or as root output of any length."""

    def __init__(self, cv, block_words, counter, block_len, flags):
        self.cv, self.block_words = cv, block_words
        self.counter, self.block_len, self.flags = counter, block_len, flags

    def chaining_value(self):
        return _compress(self.cv, self.block_words, self.counter, self.block_len, self.flags)[:8]

    def root_bytes(self, length):
        out = bytearray()
        counter = 0
        while len(out) < length:
            words = _compress(self.cv, self.block_words, counter, self.block_len,
                              self.flags | _ROOT)
            out += b"".join(w.to_bytes(4, "little") for w in words)
            counter += 1
        return bytes(out[:length])


class Blake3:
    """Incremental BLAKE3: Blake3(), Blake3.keyed(key) or Blake3.derive_key(context)."""

    def __init__(self, key_words=_IV, flags=0):
        self._key = tuple(key_words)
        self._flags = flags
        self._stack = []  # chaining values of completed subtrees
        self._start_chunk(0)

    @classmethod
    def keyed(cls, key: bytes) -> "Blake3":
        if len(key) != 32:
            raise ValueError("a BLAKE3 key is 32 bytes")
        return cls(_words(key)[:8], _KEYED_HASH)

    @classmethod
    def derive_key(cls, context: str) -> "Blake3":
        context_key = cls(_IV, _DERIVE_KEY_CONTEXT).update(context.encode()).digest()
        return cls(_words(context_key)[:8], _DERIVE_KEY_MATERIAL)

    def _start_chunk(self, counter):
        self._cv = list(self._key)
        self._counter = counter
        self._block = b""
        self._blocks_compressed = 0

    def _start_flag(self):
        return _CHUNK_START if self._blocks_compressed == 0 else 0

    def _chunk_output(self):
        return _Output(self._cv, _words(self._block), self._counter, len(self._block),
                       self._flags | self._start_flag() | _CHUNK_END)

    def _push_chunk_cv(self, cv, total_chunks):
        # Each trailing zero bit of the chunk count closes a subtree.
        while total_chunks & 1 == 0:
            cv = _compress(self._key, self._stack.pop() + cv, 0, _BLOCK_LEN,
                           self._flags | _PARENT)[:8]
            total_chunks >>= 1
        self._stack.append(cv)

    def update(self, data) -> "Blake3":
        data = memoryview(bytes(data))
        pos = 0
        while pos < len(data):
            if self._blocks_compressed * _BLOCK_LEN + len(self._block) == _CHUNK_LEN:
                total = self._counter + 1
                self._push_chunk_cv(self._chunk_output().chaining_value(), total)
                self._start_chunk(total)
            # A block is compressed only once more input follows it (the last one of a chunk
            # needs CHUNK_END).
            if len(self._block) == _BLOCK_LEN:
                self._cv = _compress(self._cv, _words(self._block), self._counter, _BLOCK_LEN,
                                     self._flags | self._start_flag())[:8]
                self._blocks_compressed += 1
                self._block = b""
            take = min(_BLOCK_LEN - len(self._block), len(data) - pos)
            self._block += bytes(data[pos:pos + take])
            pos += take
        return self

    def digest(self, length: int = 32) -> bytes:
        output = self._chunk_output()
        for cv in reversed(self._stack):
            output = _Output(self._key, cv + output.chaining_value(), 0, _BLOCK_LEN,
                             self._flags | _PARENT)
        return output.root_bytes(length)

    def hexdigest(self, length: int = 32) -> str:
        return self.digest(length).hex()


def blake3_hex(data) -> str:
    """The BLAKE3 hash of `data` as Pie writes it on the wire: 64 lowercase hex digits."""
    return Blake3().update(data).hexdigest()
