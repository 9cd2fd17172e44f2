{{/* Object names: the release name + "-agent", at most 63 characters. */}}
{{- define "nexcage.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-agent" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "nexcage.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "nexcage.labels" -}}
{{ include "nexcage.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "nexcage.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "nexcage.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The agent's --runtime-classes value: HANDLER[=NAME],... */}}
{{- define "nexcage.runtimeClassesArg" -}}
{{- range $i, $rc := .Values.runtimeClasses -}}
{{- if $i }},{{ end -}}
{{- $rc.handler -}}
{{- if $rc.name }}={{ $rc.name }}{{ end -}}
{{- end -}}
{{- end -}}
