{{/* The name every object of this release carries (the release name, unless overridden). */}}
{{- define "colo.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "colo.labels" -}}
app.kubernetes.io/name: colo
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "colo.selector" -}}
app.kubernetes.io/name: colo
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "colo.serviceAccount" -}}
{{- default (include "colo.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "colo.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
