// Package tenantadmin is the admin API of tenant definitions:
//
//	GET    /admin/v1/tenants        ids of the stored tenants
//	PUT    /admin/v1/tenants/{id}   create or replace a tenant (YAML or JSON body)
//	GET    /admin/v1/tenants/{id}   the stored tenant, secrets masked
//	DELETE /admin/v1/tenants/{id}   remove a tenant
//
// Writes go to the tenants bucket (tenantstore); every replica applies them
// within a second. A PUT is checked like the configuration file, and a
// refused one answers 422 with every problem at once. Answers never carry
// a secret: credential values and literal secret options are masked;
// ${VAR} and ${file:…} references are shown, being no secrets.
package tenantadmin
