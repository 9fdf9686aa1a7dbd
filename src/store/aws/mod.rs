//! AWS backend: DynamoDB roster and audit, SSM / Secrets Manager vault, versioned S3 truststore.
