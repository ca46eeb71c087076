"""The pure-Python BLAKE3 against the official test vectors."""

from pie_client import Blake3, blake3_hex


def vector_input(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


def test_official_vectors_all_modes_with_extended_output(blake3_vectors):
    key = blake3_vectors["key"].encode()
    context = blake3_vectors["context_string"]
    cases = blake3_vectors["cases"]
    assert len(cases) >= 35
    for case in cases:
        data = vector_input(case["input_len"])
        n = len(case["hash"]) // 2
        assert Blake3().update(data).hexdigest(n) == case["hash"], case["input_len"]
        assert blake3_hex(data) == case["hash"][:64]
        assert Blake3.keyed(key).update(data).hexdigest(n) == case["keyed_hash"]
        assert Blake3.derive_key(context).update(data).hexdigest(n) == case["derive_key"]


def test_incremental_updates_match_one_shot():
    data = vector_input(5000)
    expected = blake3_hex(data)
    for piece in (1, 63, 64, 65, 1024, 1025, 4096):
        h = Blake3()
        for i in range(0, len(data), piece):
            h.update(data[i:i + piece])
        assert h.hexdigest() == expected, piece


def test_known_digest_of_the_empty_input():
    assert blake3_hex(b"") == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
