import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { ObjectSink } from "./eventLog";

export interface S3SinkOptions {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
}

/** Ceph RGW: path-style addressing, and checksums only where an operation requires them. */
export function s3Client(o: Omit<S3SinkOptions, "bucket">): S3Client {
  return new S3Client({
    endpoint: o.endpoint,
    region: o.region,
    forcePathStyle: true,
    credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 3,
  });
}

export class S3Sink implements ObjectSink {
  private readonly client: S3Client;

  constructor(private readonly options: S3SinkOptions) {
    this.client = s3Client(options);
  }

  async put(key: string, body: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: key,
        Body: body,
        ContentType: "application/x-ndjson",
      }),
    );
  }

  close(): void {
    this.client.destroy();
  }
}
