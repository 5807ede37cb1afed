//go:build tools

// Package tools pins the Prometheus Operator binaries the node tests run: the operator, and the
// config reloader it adds to every Prometheus pod.
package tools

import (
	_ "github.com/prometheus-operator/prometheus-operator/cmd/operator"
	_ "github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader"
)
