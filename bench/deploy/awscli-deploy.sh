#!/usr/bin/env bash
# The AWS CLI doing what a deploy script does: read the service and its task definition, register a
# copy with the new image, update the service, then poll describe-services every POLL seconds
# until the new deployment is the only one, COMPLETED, with running = desired (FAILED → exit 3).
#   awscli-deploy.sh CLUSTER SERVICE IMAGE   (env: AWS_CLI, ENDPOINT, POLL; credentials and region from env)
set -euo pipefail
cluster=$1 service=$2 image=$3
aws() { "${AWS_CLI:-aws}" --endpoint-url "$ENDPOINT" --output json "$@"; }
td=$(aws ecs describe-services --cluster "$cluster" --services "$service" --query 'services[0].taskDefinition' --output text)
input=$(aws ecs describe-task-definition --task-definition "$td" --query taskDefinition |
  jq --arg img "$image" '.containerDefinitions[0].image = $img
    | del(.taskDefinitionArn, .revision, .status, .requiresAttributes, .compatibilities, .registeredAt, .registeredBy, .deregisteredAt)')
new=$(aws ecs register-task-definition --cli-input-json "$input" --query taskDefinition.taskDefinitionArn --output text)
aws ecs update-service --cluster "$cluster" --service "$service" --task-definition "$new" >/dev/null
seen=0 # ECS reads lag behind writes: the old PRIMARY may show for a moment
while :; do
  sleep "${POLL:-1}"
  state=$(aws ecs describe-services --cluster "$cluster" --services "$service" \
    --query 'services[0].[length(deployments), deployments[?status==`PRIMARY`].taskDefinition | [0], deployments[?status==`PRIMARY`].rolloutState | [0], runningCount, desiredCount]' --output text)
  read -r n primary rollout running desired <<<"$state"
  if [ "$primary" = "$new" ]; then seen=1; fi
  if [ "$primary" = "$new" ] && [ "$rollout" = FAILED ]; then exit 3; fi
  if [ "$seen" = 1 ] && [ "$primary" != "$new" ]; then exit 3; fi # rolled back by the circuit breaker
  if [ "$primary" = "$new" ] && [ "$n" = 1 ] && [ "$rollout" = COMPLETED ] && [ "$running" = "$desired" ]; then exit 0; fi
done
