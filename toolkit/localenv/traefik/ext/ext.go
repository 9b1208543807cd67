// Package ext stands in for Traefik's nested module github.com/traefik/traefik/dynamic/ext.
//
// Traefik's go.mod replaces that module with ./pkg/config/dynamic/ext, a directory the Go module zip leaves out
// (it holds a go.mod of its own), so a build from the downloaded module needs it supplied. In the open-source
// build it is an extension point: empty structs embedded in dynamic.HTTPConfiguration and dynamic.Router.
package ext

// HTTP is embedded in dynamic.HTTPConfiguration.
type HTTP struct{}

// Router is embedded in dynamic.Router.
type Router struct{}
