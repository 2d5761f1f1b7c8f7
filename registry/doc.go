// Package registry discovers backends: it turns a source of endpoints into
// a stream of complete backend sets per service, which the engine swaps in
// (new connections use the new set at once; established ones are left
// alone).
package registry
