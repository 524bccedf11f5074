/**
 * IAM users of the local world, made with the AWS CLI (the harness's credentials, which the world
 * never evaluates): a user with policies, and its access key for patchwork or the CLI to sign with.
 */
import { awsCli } from './localworld.js';

export interface IamUser {
  name: string;
  arn: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** A user with one inline policy per document (`inline`), and managed policies attached (`managed`). */
export function createIamUser(
  name: string,
  policies: { inline?: Record<string, unknown>[]; managed?: Record<string, unknown>[] },
): IamUser {
  const user = awsCli(['iam', 'create-user', '--user-name', name]).User;
  (policies.inline ?? []).forEach((doc, i) => {
    awsCli([
      'iam',
      'put-user-policy',
      '--user-name',
      name,
      '--policy-name',
      `${name}-inline-${i}`,
      '--policy-document',
      JSON.stringify(doc),
    ]);
  });
  (policies.managed ?? []).forEach((doc, i) => {
    const arn = awsCli([
      'iam',
      'create-policy',
      '--policy-name',
      `${name}-managed-${i}`,
      '--policy-document',
      JSON.stringify(doc),
    ]).Policy.Arn;
    awsCli(['iam', 'attach-user-policy', '--user-name', name, '--policy-arn', arn]);
  });
  const key = awsCli(['iam', 'create-access-key', '--user-name', name]).AccessKey;
  return { name, arn: user.Arn, accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey };
}

/** A policy file with `<account>`, `<region>`, `<app>` and `<env>` put in. */
export function fillPolicy(
  doc: unknown,
  vars: { account: string; region: string; app: string; env: string },
): Record<string, unknown> {
  const text = JSON.stringify(doc)
    .replaceAll('<account>', vars.account)
    .replaceAll('<region>', vars.region)
    .replaceAll('<app>', vars.app)
    .replaceAll('<env>', vars.env);
  return JSON.parse(text) as Record<string, unknown>;
}
