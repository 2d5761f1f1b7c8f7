//go:build !race

package affinity

//go:noescape
func bucketWordAVX512(bk *sessionBucket, tag uint64) uint64

//go:noescape
func bucketWordAVX2(bk *sessionBucket, tag uint64) uint64
