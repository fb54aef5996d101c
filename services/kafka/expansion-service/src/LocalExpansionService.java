package spectator.services;

import java.net.InetSocketAddress;
import java.util.Arrays;
import org.apache.beam.fn.harness.ExternalWorkerService;
import org.apache.beam.runners.fnexecution.artifact.ArtifactRetrievalService;
import org.apache.beam.sdk.expansion.service.ExpansionService;
import org.apache.beam.sdk.expansion.service.ExpansionServiceOptions;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.vendor.grpc.v1p69p0.io.grpc.Server;
import org.apache.beam.vendor.grpc.v1p69p0.io.grpc.netty.NettyServerBuilder;

/**
 * Beam's {@code ExpansionService.main}, but listening on one address (127.0.0.1 unless the
 * system property {@code spectator.bind} says otherwise) instead of on every interface.
 *
 * <p>Same command line as Beam's jar: {@code PORT [--pipelineOption=value ...]}, e.g.
 * {@code --defaultEnvironmentType=EMBEDDED}; the Python SDK adds {@code --filesToStage=...} and
 * {@code --alsoStartLoopbackWorker} when it starts the jar itself.
 */
public final class LocalExpansionService {
  private LocalExpansionService() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: java -jar EXPANSION_SERVICE.jar PORT [--pipelineOption=value ...]");
      System.exit(2);
    }
    String host = System.getProperty("spectator.bind", "127.0.0.1");
    int port = Integer.parseInt(args[0]);

    PipelineOptionsFactory.register(ExpansionServiceOptions.class);
    PipelineOptions options =
        PipelineOptionsFactory.fromArgs(Arrays.copyOfRange(args, 1, args.length)).create();
    // The loopback address is what a runner is told to reach the loopback Java worker at.
    ExpansionService service = new ExpansionService(options, host + ":" + port);

    NettyServerBuilder builder =
        NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
            .addService(service)
            .addService(new ArtifactRetrievalService());
    if (options.as(ExpansionServiceOptions.class).getAlsoStartLoopbackWorker()) {
      builder.addService(new ExternalWorkerService(options));
    }
    Server server = builder.build();
    server.start();

    System.out.println("Expansion service listening on " + host + ":" + port);
    System.out.flush();

    Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown));
    server.awaitTermination();
  }
}
