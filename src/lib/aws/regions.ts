import { createRequire } from 'node:module';

/**
 * Known AWS regions, checked offline so a typo in a region is a config error (exit 2, no call)
 * rather than a DNS failure after retries. Keep in step with AWS's region list.
 */
export const KNOWN_REGIONS = [
  'af-south-1',
  'ap-east-1',
  'ap-east-2',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ap-south-1',
  'ap-south-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-4',
  'ap-southeast-5',
  'ap-southeast-6',
  'ap-southeast-7',
  'ca-central-1',
  'ca-west-1',
  'eu-central-1',
  'eu-central-2',
  'eu-north-1',
  'eu-south-1',
  'eu-south-2',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'il-central-1',
  'me-central-1',
  'me-south-1',
  'mx-central-1',
  'sa-east-1',
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'us-gov-east-1',
  'us-gov-west-1',
  'cn-north-1',
  'cn-northwest-1',
] as const;

const SHAPE = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/;

export function isKnownRegion(region: string): boolean {
  return (KNOWN_REGIONS as readonly string[]).includes(region);
}

/**
 * A region is accepted when it is known, or when it has a region's shape and
 * PATCHWORK_ALLOW_UNKNOWN_REGION=1 is set (for regions newer than this list).
 */
export function regionProblem(region: string, allowUnknown = false): string | undefined {
  if (isKnownRegion(region)) return undefined;
  if (SHAPE.test(region) && allowUnknown) return undefined;
  return `unknown AWS region "${region}"`;
}

/**
 * The `region` of an AWS profile (`[profile X]`, or `[default]`) in the shared config file, read by
 * the SDK's own shared-ini loader; undefined when the file, the profile or the key is missing.
 * The file paths come from env.ts (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, HOME).
 */
export async function profileRegion(files: {
  profile: string | undefined;
  awsConfigFile: string;
  awsCredentialsFile: string;
}): Promise<string | undefined> {
  // Loaded only when no option, config or variable named a region (CommonJS: require, see aws/sdk.ts).
  const { loadSharedConfigFiles } = createRequire(import.meta.url)(
    '@smithy/core/config',
  ) as typeof import('@smithy/core/config');
  const { configFile } = await loadSharedConfigFiles({
    configFilepath: files.awsConfigFile,
    filepath: files.awsCredentialsFile,
    ignoreCache: true,
  });
  const region = configFile[files.profile ?? 'default']?.region?.trim();
  return region ? region : undefined;
}
