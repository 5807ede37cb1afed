//go:build tools

// Package tools pins the Prometheus server the node's monitoring stack runs.
package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
