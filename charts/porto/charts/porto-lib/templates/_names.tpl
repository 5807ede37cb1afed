{{/*
Names: the standard helpers, and the one place that names each component's objects. Names are cut
at 63 characters, the limit of DNS-1123 labels that Kubernetes applies to most names and to label
values. Every helper takes the calling chart's context (`.`): a subchart's own, or the
umbrella's, which sees every subchart's values.
*/}}

{{/*
porto's components, the subcharts, by chart name: the `app.kubernetes.io/component` label of their
objects, and where their `app.kubernetes.io/version` comes from (`image`: the image tag, for
software porto packages but does not build the version of; default: the chart's appVersion).
A chart not listed (the umbrella) is named by the usual rule and has no component label.
*/}}
{{- define "porto-lib.components" -}}
inference: {component: api}
ui: {component: ui}
training: {component: training}
postgres: {component: database, version: image}
minio: {component: object-store, version: image}
dashboards: {component: monitoring}
{{- end }}

{{/* This chart's entry in porto-lib.components (empty for the umbrella). */}}
{{- define "porto-lib.component" -}}
{{- get (include "porto-lib.components" . | fromYaml) .Chart.Name | default dict | toYaml -}}
{{- end }}

{{- define "porto-lib.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
This chart's resource name. A component's: always `<release>-<chart>` (porto-lib.nameOf): the usual
shortcut (the release name alone when it contains the chart name) would give two subcharts of one
release the same names (release `minio-postgres-lab`). The umbrella's: the usual rule.
*/}}
{{- define "porto-lib.fullname" -}}
{{- if hasKey (include "porto-lib.components" . | fromYaml) .Chart.Name }}
{{- include "porto-lib.nameOf" (list . .Chart.Name) }}
{{- else if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The resource name of component `<name>` in this release: its fullnameOverride, else
`<release>-<nameOverride or name>`, cut at 63 characters. The overrides are read from the values
the caller sees: the component's own (its own chart), or the umbrella's `<name>.*`; a sibling
subchart sees none, so a component wired to by another must keep its default name (the umbrella's
validate.yaml refuses the overrides that would break the wiring).
Usage: include "porto-lib.nameOf" (list . "minio")
*/}}
{{- define "porto-lib.nameOf" -}}
{{- $ctx := index . 0 -}}
{{- $component := index . 1 -}}
{{- $values := ternary $ctx.Values (index $ctx.Values $component | default dict) (eq $ctx.Chart.Name $component) -}}
{{- if $values.fullnameOverride -}}
{{- $values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" $ctx.Release.Name (default $component $values.nameOverride) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end }}

{{/*
`<base>-<suffix>`, the base cut so that the whole fits in a limit (63 characters by default).
Usage: include "porto-lib.withSuffix" (list $base "headless" 63)
*/}}
{{- define "porto-lib.withSuffix" -}}
{{- $suffix := index . 1 -}}
{{- $max := 63 -}}
{{- if gt (len .) 2 }}{{ $max = index . 2 }}{{ end -}}
{{- printf "%s-%s" (index . 0 | trunc (int (sub (sub $max 1) (len $suffix))) | trimSuffix "-") $suffix -}}
{{- end }}

{{/*
`<fullname>-<suffix>`, this chart's full name cut so the whole fits in a limit: 63 characters by
default; 52 for a CronJob (its Jobs add 11), 57 for a generateName (the API adds 5 and a dash).
Usage: include "porto-lib.suffixed" (list . "scheduled" 52)
*/}}
{{- define "porto-lib.suffixed" -}}
{{- include "porto-lib.withSuffix" (prepend (rest .) (include "porto-lib.fullname" (first .))) -}}
{{- end }}

{{- define "porto-lib.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The ServiceAccount pods run as: serviceAccount.create/name (no such values: `default`). */}}
{{- define "porto-lib.serviceAccountName" -}}
{{- $sa := .Values.serviceAccount | default dict }}
{{- if $sa.create }}
{{- default (include "porto-lib.fullname" .) $sa.name }}
{{- else }}
{{- default "default" $sa.name }}
{{- end }}
{{- end }}

{{/* The Secret of a component's own credentials: auth.existingSecret, or `<fullname>`. */}}
{{- define "porto-lib.secretName" -}}
{{- .Values.auth.existingSecret | default (include "porto-lib.fullname" .) -}}
{{- end }}

{{/* --- the objects one component wires to another's ------------------------------------------ */}}

{{/*
Secret and key holding the API key: global.apiKey.existingSecret, or the one the inference chart
generates (`<inference>-api-key`, key `api-key`, kept across upgrades), which the UI and the
umbrella's `helm test` pod read.
*/}}
{{- define "porto-lib.apiKeySecret" -}}
{{- if .Values.global.apiKey.existingSecret -}}
{{- .Values.global.apiKey.existingSecret -}}
{{- else -}}
{{- include "porto-lib.withSuffix" (list (include "porto-lib.nameOf" (list . "inference")) "api-key") -}}
{{- end -}}
{{- end }}

{{- define "porto-lib.apiKeySecretKey" -}}
{{- if .Values.global.apiKey.existingSecret -}}
{{- .Values.global.apiKey.key -}}
{{- else -}}
api-key
{{- end -}}
{{- end }}

{{/* Secret and key holding the PostgreSQL URL: an existing Secret, or the postgres chart's. */}}
{{- define "porto-lib.databaseSecret" -}}
{{- if .Values.global.database.existingSecret -}}
{{- .Values.global.database.existingSecret -}}
{{- else -}}
{{- include "porto-lib.nameOf" (list . "postgres") -}}
{{- end -}}
{{- end }}

{{- define "porto-lib.databaseSecretKey" -}}
{{- if .Values.global.database.existingSecret -}}
{{- .Values.global.database.urlKey -}}
{{- else -}}
database-url
{{- end -}}
{{- end }}

{{/* Secret holding the S3 keys: an existing Secret, or the minio chart's. */}}
{{- define "porto-lib.s3Secret" -}}
{{- .Values.global.objectStore.existingSecret | default (include "porto-lib.nameOf" (list . "minio")) -}}
{{- end }}

{{/* S3 endpoint: the configured one with an existing Secret (empty = AWS), else the minio chart's Service. */}}
{{- define "porto-lib.s3Endpoint" -}}
{{- if .Values.global.objectStore.existingSecret -}}
{{- .Values.global.objectStore.endpoint -}}
{{- else -}}
{{- printf "http://%s:%d" (include "porto-lib.nameOf" (list . "minio")) 9000 -}}
{{- end -}}
{{- end }}

{{/*
The training Job of this release's revision (`<training>-r<revision>`) and the ConfigMap holding
the Job template of on-demand runs (`<training>-job-template`; porto.cluster.template_name_for
derives the same from the release name).
*/}}
{{- define "porto-lib.trainingJob" -}}
{{- include "porto-lib.withSuffix" (list (include "porto-lib.nameOf" (list . "training")) (printf "r%d" .Release.Revision)) -}}
{{- end }}

{{- define "porto-lib.trainingJobTemplate" -}}
{{- include "porto-lib.withSuffix" (list (include "porto-lib.nameOf" (list . "training")) "job-template") -}}
{{- end }}
