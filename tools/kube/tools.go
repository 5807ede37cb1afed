//go:build tools

// Package tools pins the binaries built from this module: the control plane the chart tests
// run (kube-apiserver, kubectl) and the node the user-path tests run (kubelet,
// kube-controller-manager, kube-scheduler, kube-proxy; tests/harness/node.py).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
