package affinity

import "testing"

// TestHashKey pins HashKey to published XXH64 (seed 0) vectors: the hash is
// a compatibility promise between balancer versions.
func TestHashKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want uint64
	}{
		{"", 0xef46db3751d8e999},
		{"a", 0xd24ec4f1a98c6e5b},
		{"abc", 0x44bc2cf5ad770999},
		{"Nobody inspects the spammish repetition", 0xfbcea83c8a378bf1},
	} {
		if got := HashKey([]byte(tc.key)); got != tc.want {
			t.Errorf("HashKey(%q) = %#x; want %#x", tc.key, got, tc.want)
		}
	}
}

func TestTableSizeIsPrime(t *testing.T) {
	for d := 2; d*d <= TableSize; d++ {
		if TableSize%d == 0 {
			t.Fatalf("TableSize %d is divisible by %d; Maglev permutations need a prime", TableSize, d)
		}
	}
}
