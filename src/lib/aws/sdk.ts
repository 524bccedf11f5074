/**
 * The AWS SDK's client packages, loaded with require() rather than an ESM import. Each is one
 * CommonJS bundle of 130–220 KB; an ESM `import` of a CommonJS file makes Node detect its module
 * format and scan its whole source for export names (cjs-module-lexer, in JavaScript) before
 * compiling it — two extra passes that, for ECS + DynamoDB, cost ~2–3× the load time of require()
 * and ~8 MiB more memory (measured on Node 20; Node 22+ still lexes). Both ways share one module
 * cache, so the classes are the same objects an `import` of the package gives (the SDK mocks of the
 * tests see them). Call the accessor where the package is needed: it loads on first use.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export const ecsSdk = (): typeof import('@aws-sdk/client-ecs') => load('@aws-sdk/client-ecs');
export const dynamodbSdk = (): typeof import('@aws-sdk/client-dynamodb') => load('@aws-sdk/client-dynamodb');
export const ecrSdk = (): typeof import('@aws-sdk/client-ecr') => load('@aws-sdk/client-ecr');
export const logsSdk = (): typeof import('@aws-sdk/client-cloudwatch-logs') => load('@aws-sdk/client-cloudwatch-logs');
export const elbv2Sdk = (): typeof import('@aws-sdk/client-elastic-load-balancing-v2') =>
  load('@aws-sdk/client-elastic-load-balancing-v2');
export const cloudwatchSdk = (): typeof import('@aws-sdk/client-cloudwatch') => load('@aws-sdk/client-cloudwatch');
/** Any client package by name (the client factory's loaders). */
export const sdkPackage = (name: string): Record<string, unknown> => load(name) as Record<string, unknown>;
