#!/usr/bin/env bash
# The AWS CLI equivalent of a no-op `patchwork provision` for one service: read the same
# resources the same way (by name), sequentially as a shell script would, and print the number of
# calls. It only checks; comparing and repairing would be more script on top.
#   APP_ENV=shop-bench SVC=shop-bench-web bash bench/provision/check.sh
set -euo pipefail
N=${APP_ENV:-shop-bench}
S=${SVC:-$N-web}
COUNT=$(mktemp)
trap 'rm -f "$COUNT"' EXIT
# Each call appends a line (command substitutions run in subshells, so no shell counter).
a() { echo >>"$COUNT"; aws --output json "$@" >/dev/null; }
out() { echo >>"$COUNT"; aws --output text "$@"; }

a sts get-caller-identity
VPC=$(out ec2 describe-vpcs --filters Name=is-default,Values=true --query 'Vpcs[0].VpcId')
a ec2 describe-subnets --filters Name=default-for-az,Values=true
a ec2 describe-security-groups --filters "Name=vpc-id,Values=$VPC" "Name=group-name,Values=$N-alb,$S-tasks"
TABLE=$(out dynamodb describe-table --table-name "$N-patchwork" --query Table.TableArn)
a dynamodb describe-continuous-backups --table-name "$N-patchwork"
a dynamodb list-tags-of-resource --resource-arn "$TABLE"
REPO=$(out ecr describe-repositories --repository-names "$S" --query 'repositories[0].repositoryArn')
a ecr get-lifecycle-policy --repository-name "$S"
a ecr list-tags-for-resource --resource-arn "$REPO"
LOG=$(out logs describe-log-groups --log-group-name-prefix "$S" --query 'logGroups[0].logGroupArn')
a logs list-tags-for-resource --resource-arn "$LOG"
a iam get-role --role-name "$S-execution"
a iam get-role-policy --role-name "$S-execution" --policy-name patchwork-execution
a iam get-role --role-name "$S-task"
a iam list-attached-role-policies --role-name "$S-task"
a ecs describe-clusters --clusters "$N" --include SETTINGS TAGS
a ecs describe-services --cluster "$N" --services "$S" --include TAGS
LB=$(out elbv2 describe-load-balancers --names "$N" --query 'LoadBalancers[0].LoadBalancerArn')
TG=$(out elbv2 describe-target-groups --names "$S" --query 'TargetGroups[0].TargetGroupArn')
L=$(out elbv2 describe-listeners --load-balancer-arn "$LB" --query 'Listeners[0].ListenerArn')
a elbv2 describe-rules --listener-arn "$L"
a elbv2 describe-tags --resource-arns "$LB" "$TG" "$L"
a elbv2 describe-target-group-attributes --target-group-arn "$TG"
a application-autoscaling describe-scalable-targets --service-namespace ecs --resource-ids "service/$N/$S"
a application-autoscaling describe-scaling-policies --service-namespace ecs --policy-names "$S-cpu" "$S-requests"
a cloudwatch describe-alarms --alarm-name-prefix "$N-"
wc -l <"$COUNT" | tr -d " "
