package check

// Files shared by compose and the chart, relative to the repository root.
const (
	alertsFile    = "deploy/helm/calldex/files/calldex-alerts.yaml"
	dashboardFile = "deploy/helm/calldex/files/calldex-dashboard.json"
	chartDir      = "deploy/helm/calldex"
)
