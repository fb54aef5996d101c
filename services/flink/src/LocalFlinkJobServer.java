package spectator.services;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.beam.model.pipeline.v1.Endpoints.ApiServiceDescriptor;
import org.apache.beam.runners.flink.FlinkJobInvoker;
import org.apache.beam.runners.flink.FlinkJobServerDriver;
import org.apache.beam.runners.flink.FlinkJobServerDriver.FlinkServerConfiguration;
import org.apache.beam.runners.jobsubmission.JobServerDriver;
import org.apache.beam.sdk.fn.server.ServerFactory;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.vendor.grpc.v1p69p0.io.grpc.BindableService;
import org.apache.beam.vendor.grpc.v1p69p0.io.grpc.Server;
import org.apache.beam.vendor.grpc.v1p69p0.io.grpc.netty.NettyServerBuilder;

/**
 * Beam's Flink job server ({@code FlinkJobServerDriver}, same flags), with its job and artifact
 * services listening on {@code --job-host} only: Beam's own driver binds them to every interface.
 */
public final class LocalFlinkJobServer extends JobServerDriver {
  private LocalFlinkJobServer(FlinkServerConfiguration config, ServerFactory servers) {
    super(config, servers, servers, () -> FlinkJobInvoker.create(config));
  }

  public static void main(String[] args) {
    FileSystems.setDefaultPipelineOptions(PipelineOptionsFactory.create());
    FlinkServerConfiguration config = FlinkJobServerDriver.parseArgs(args);
    new LocalFlinkJobServer(config, new BoundServerFactory(config.getHost())).run();
  }

  /** gRPC servers on one address, configured as Beam's default ones. */
  private static final class BoundServerFactory extends ServerFactory {
    private final String host;

    BoundServerFactory(String host) {
      this.host = host;
    }

    @Override
    public Server allocateAddressAndCreate(
        List<BindableService> services, ApiServiceDescriptor.Builder descriptor) throws IOException {
      Server server = start(services, 0);
      descriptor.setUrl(host + ":" + server.getPort());
      return server;
    }

    @Override
    public Server create(List<BindableService> services, ApiServiceDescriptor descriptor)
        throws IOException {
      String url = descriptor.getUrl();
      return start(services, Integer.parseInt(url.substring(url.lastIndexOf(':') + 1)));
    }

    private Server start(List<BindableService> services, int port) throws IOException {
      NettyServerBuilder builder =
          NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
              .maxInboundMessageSize(Integer.MAX_VALUE)
              .permitKeepAliveTime(1, TimeUnit.SECONDS);
      services.forEach(builder::addService);
      return builder.build().start();
    }
  }
}
