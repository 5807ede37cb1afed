{{/* Standard helpers (prometheus-community style); names cut at 63 characters. */}}

{{- define "training.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Always `<release>-<chart>`: the usual shortcut (the release name alone when it contains the chart
name) would give two subcharts of one release the same names (release `minio-postgres-lab`).
*/}}
{{- define "training.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (default .Chart.Name .Values.nameOverride) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "training.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "training.labels" -}}
helm.sh/chart: {{ include "training.chart" . }}
{{ include "training.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: training
app.kubernetes.io/part-of: porto
{{- end }}

{{- define "training.selectorLabels" -}}
app.kubernetes.io/name: {{ include "training.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "training.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "training.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
`<fullname>-<suffix>`, the full name cut so the whole fits in a limit: 63 characters by default;
52 for a CronJob (its Jobs add 11), 57 for a generateName (the API adds 5 and a dash).
Usage: include "training.suffixed" (list . "scheduled" 52)
*/}}
{{- define "training.suffixed" -}}
{{- $ctx := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $max := 63 -}}
{{- if gt (len .) 2 }}{{ $max = index . 2 }}{{ end -}}
{{- printf "%s-%s" (include "training.fullname" $ctx | trunc (int (sub (sub $max 1) (len $suffix))) | trimSuffix "-") $suffix -}}
{{- end }}

{{- define "training.image" -}}
{{- $registry := .Values.global.imageRegistry | default .Values.image.registry -}}
{{- $repository := .Values.image.repository -}}
{{- if $registry }}{{ $repository = printf "%s/%s" $registry $repository }}{{ end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}
{{- end }}

{{/* Name of another porto subchart's resources (same rule as its `<chart>.fullname`). */}}
{{- define "training.peerName" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%s" $ctx.Release.Name (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{- define "training.monitoring" -}}
{{- $m := .Values.global.monitoring -}}
{{- if and $m.enabled (or $m.force (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}
true
{{- end -}}
{{- end }}

{{- define "training.s3Secret" -}}
{{- .Values.global.objectStore.existingSecret | default (include "training.peerName" (list . "minio")) -}}
{{- end }}

{{- define "training.s3Endpoint" -}}
{{- if .Values.global.objectStore.existingSecret -}}
{{- .Values.global.objectStore.endpoint -}}
{{- else -}}
{{- printf "http://%s:%d" (include "training.peerName" (list . "minio")) 9000 -}}
{{- end -}}
{{- end }}

{{- define "training.storeUri" -}}
{{- $o := .Values.global.objectStore -}}
{{- printf "s3://%s/%s" $o.bucket ($o.prefix | trimAll "/") | trimSuffix "/" -}}
{{- end }}

{{/*
The pod template every training run uses: the install/upgrade Job, the CronJob and the on-demand
Job template. `porto-train train` with the data source and `--set` overrides from the values.
*/}}
{{- define "training.podTemplate" -}}
{{- $s3 := .Values.global.objectStore -}}
{{- $endpoint := include "training.s3Endpoint" . -}}
metadata:
  labels:
    {{- include "training.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- $annotations := deepCopy .Values.podAnnotations }}
  {{- if and .Values.waitForStore.enabled $endpoint }}
  {{- $_ := set $annotations "checksum/scripts" (include (print $.Template.BasePath "/scripts-configmap.yaml") . | sha256sum) }}
  {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ include "training.serviceAccountName" . }}
  automountServiceAccountToken: false
  {{- $pullSecrets := concat .Values.global.imagePullSecrets .Values.imagePullSecrets | uniq }}
  {{- with $pullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- if and $endpoint .Values.waitForStore.enabled }}
  initContainers:
    - name: wait-for-store
      image: {{ include "training.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: ["python", "/etc/porto/wait_for_store.py"]
      args: [{{ $endpoint | quote }}, {{ .Values.waitForStore.timeoutSeconds | quote }}]
      resources:
        requests:
          cpu: 10m
          memory: 32Mi
        limits:
          cpu: 100m
          memory: 64Mi
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: scripts
          mountPath: /etc/porto
          readOnly: true
  {{- end }}
  containers:
    - name: training
      image: {{ include "training.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - train
        {{- with .Values.data.uri }}
        - --data
        - {{ . | quote }}
        {{- else }}
        - --rows
        - {{ .Values.data.syntheticRows | int64 | quote }}
        {{- end }}
        {{- if .Values.promote }}
        - --promote
        {{- end }}
        {{- range $key, $value := .Values.config }}
        - --set
        - {{ printf "%s=%s" $key (toJson $value) | quote }}
        {{- end }}
      ports:
        - name: metrics
          containerPort: {{ .Values.metricsPort }}
          protocol: TCP
      env:
        - name: PORTO_HOME
          value: /var/lib/porto
        - name: PORTO_STORE
          value: {{ include "training.storeUri" . | quote }}
        - name: PORTO_MODEL_NAME
          value: {{ .Values.global.modelName | quote }}
        - name: PORTO_TRAIN_METRICS_PORT
          value: {{ .Values.metricsPort | quote }}
        # The PodMonitor scrapes the pod's IP: every interface, not loopback.
        - name: PORTO_TRAIN_METRICS_ADDR
          value: "0.0.0.0"
        {{- with $endpoint }}
        - name: PORTO_S3_ENDPOINT_URL
          value: {{ . | quote }}
        {{- end }}
        - name: PORTO_S3_REGION
          value: {{ $s3.region | quote }}
        - name: PORTO_S3_CREATE_BUCKET
          value: {{ .Values.createBucket | quote }}
        - name: PORTO_S3_ACCESS_KEY
          valueFrom:
            secretKeyRef:
              name: {{ include "training.s3Secret" . }}
              key: {{ ternary $s3.accessKeyKey "access-key" (ne $s3.existingSecret "") }}
        - name: PORTO_S3_SECRET_KEY
          valueFrom:
            secretKeyRef:
              name: {{ include "training.s3Secret" . }}
              key: {{ ternary $s3.secretKeyKey "secret-key" (ne $s3.existingSecret "") }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      # A run is a batch process: no liveness/readiness probes (nothing routes traffic to it,
      # and a slow stage must not be restarted); activeDeadlineSeconds bounds a hung run.
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: home
          mountPath: /var/lib/porto
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 1Gi
    # PORTO_HOME and the working directory: CatBoost's train dir, local downloads.
    - name: home
      emptyDir:
        sizeLimit: {{ .Values.workDirSizeLimit }}
    {{- if and $endpoint .Values.waitForStore.enabled }}
    - name: scripts
      configMap:
        name: {{ include "training.suffixed" (list . "scripts") }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* The Job spec of one run (install/upgrade Job, CronJob, on-demand template). */}}
{{- define "training.jobSpec" -}}
backoffLimit: {{ .Values.job.backoffLimit }}
activeDeadlineSeconds: {{ .Values.job.activeDeadlineSeconds }}
ttlSecondsAfterFinished: {{ .Values.job.ttlSecondsAfterFinished }}
template:
  {{- include "training.podTemplate" . | nindent 2 }}
{{- end }}
