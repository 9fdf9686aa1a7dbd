//! AWS backend: DynamoDB roster and audit, SSM / Secrets Manager vault, versioned S3 truststore.

pub async fn connect(_env: &crate::config::EnvConfig) -> crate::error::Result<super::Backend> {
    todo!()
}

pub async fn doctor_checks(
    _env: &crate::config::EnvConfig,
    _backend: &super::Backend,
) -> Vec<crate::ops::DoctorCheck> {
    todo!()
}

pub async fn init_infra(_env: &crate::config::EnvConfig) -> crate::error::Result<Vec<String>> {
    todo!()
}
