module webhookrss

go 1.19
