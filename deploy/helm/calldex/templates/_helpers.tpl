{{/* Name of the chart's objects: the release name, with "calldex" unless it holds it. */}}
{{- define "calldex.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "calldex.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: calldex
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one role: include with (list $ "ingress"). */}}
{{- define "calldex.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: calldex
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "calldex.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "calldex.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "calldex.tenantsSecret" -}}
{{- default (printf "%s-tenants" (include "calldex.fullname" .)) .Values.tenants.existingSecret -}}
{{- end -}}

{{- define "calldex.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
