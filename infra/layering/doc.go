// Package layering holds the test that keeps the module's imports running
// one way: dialects translate wire to domain, the domain decides, stores
// persist, and none reaches back.
package layering
