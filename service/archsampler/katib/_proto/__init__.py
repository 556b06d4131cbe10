"""Generated stubs of Katib's api.proto (protos/katib/v1beta1). Do not edit."""
