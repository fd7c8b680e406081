package dev.lora4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link ModelParams#withRpcServers}: the form of each endpoint and the options it conflicts with (no native code runs). */
class ModelParamsTest {
    private static String refused(List<String> endpoints) {
        return assertThrows(IllegalArgumentException.class, () -> ModelParams.defaults().withRpcServers(endpoints)).getMessage();
    }

    @Test
    void endpointsAreHostColonPort() {
        List<String> ok = List.of("127.0.0.1:50052", "gpu-box.local:1", "10.0.0.2:65535");
        ModelParams p = ModelParams.defaults().withGpuLayers(-1).withRpcServers(ok);
        assertEquals(ok, p.rpcServers());
        assertEquals(List.of(), ModelParams.defaults().rpcServers());
        List<String> mutable = new ArrayList<>(ok);
        ModelParams q = ModelParams.defaults().withRpcServers(mutable);
        mutable.clear();
        assertEquals(ok, q.rpcServers(), "copied");

        assertTrue(refused(List.of("127.0.0.1")).contains("is not host:port"));
        assertTrue(refused(List.of(":50052")).contains("is not host:port"));
        assertTrue(refused(List.of("::1:50052")).contains("IPv4 only"));
        assertTrue(refused(List.of("[::1]:50052")).contains("is not host:port"));
        assertTrue(refused(List.of("host name:1")).contains("is not host:port"));
        assertTrue(refused(List.of("h:0")).contains("from 1 to 65535"));
        assertTrue(refused(List.of("h:65536")).contains("from 1 to 65535"));
        assertTrue(refused(List.of("h:port")).contains("from 1 to 65535"));
        assertTrue(refused(List.of("h:-1")).contains("from 1 to 65535"));
        assertTrue(refused(List.of("h:1", "h:1")).contains("given twice"));
        assertThrows(IllegalArgumentException.class, () -> ModelParams.defaults().withRpcServers(null));
        assertThrows(IllegalArgumentException.class, () -> ModelParams.defaults().withRpcServers(java.util.Arrays.asList("h:1", null)));
    }

    @Test
    void rpcServersConflictWithOneDevice() {
        ModelParams rpc = ModelParams.defaults().withGpuLayers(-1).withRpcServers(List.of("h:1"));
        String m = assertThrows(IllegalArgumentException.class, () -> rpc.withDevice(0)).getMessage();
        assertTrue(m.contains("conflict"), m);
        assertThrows(IllegalArgumentException.class, () -> ModelParams.defaults().withDevice(0).withRpcServers(List.of("h:1")));
    }
}
