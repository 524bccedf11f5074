/** The commented starter config `patchwork init` writes (valid as written: tests parse it). */
export function starterConfig(opts: { app: string; region: string; context: string; port: number }): string {
  return `# patchwork.yml: what to deploy, and where. Reference: README.md#configuration
# Editors: point YAML language support at patchwork.schema.json (\`patchwork schema > patchwork.schema.json\`).
app: ${opts.app}                  # names every resource: ${opts.app}-<env>-<service>
region: ${opts.region}           # default region (AWS_REGION when omitted)

services:
  web:
    build:
      context: ${opts.context}           # relative to this file
      dockerfile: Dockerfile
      platform: linux/amd64     # Fargate default; linux/arm64 for Graviton
    port: ${opts.port}
    cpu: 256                    # Fargate sizes: 256/512, 512/1024, ...
    memory: 512
    healthCheck:
      path: /healthz            # the ALB's target health check
    route:
      paths: ["/*"]             # several services can share one ALB by path
    env:
      LOG_LEVEL: info
    # secrets:                  # by reference only, never plain text
    #   DB_PASSWORD: arn:aws:ssm:${opts.region}:123456789012:parameter/${opts.app}/db-password

defaults:                       # every environment starts from these
  allowedCidrs: ["0.0.0.0/0"]
  logRetentionDays: 30

environments:
  staging:
    desiredCount: 1
  prod:
    desiredCount: 2
    autoscaling: { min: 2, max: 10, cpuPercent: 60, requestsPerTarget: 1000 }
    alarms: { http5xxPerMinute: 5, cpuPercent: 80, memoryPercent: 80 }
    # https: { certificateArn: arn:aws:acm:${opts.region}:123456789012:certificate/... }
    # patchwork makes the VPC: the load balancer in public subnets, the tasks in private ones (no public IPs),
    # one NAT gateway as their way out (nat-per-az: one per zone; endpoints: VPC endpoints, no NAT).
    # Or use a network you have: network: { vpc: vpc-0abc..., publicSubnets: [...], privateSubnets: [...] }
    network: { create: true, azs: 2, cidr: 10.0.0.0/16, egress: nat }

deploy:
  timeoutSeconds: 600
  pollSeconds: 2
  keepReleases: 10
  smoke: { path: /healthz }
`;
}
